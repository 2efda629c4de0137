#include "serve/edit_server.hpp"

#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/stop_signal.hpp"
#include "image/image_file.hpp"
#include "logging/log.hpp"
#include "qwen_image_edit/edit_outcome.hpp"
#include "serve/bearer_token.hpp"
#include "serve/multipart_form.hpp"

namespace vramguard {
namespace {

constexpr const char* kJson = "application/json";

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t chunk = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

HttpResponse api_error(const ApiError& error) {
  HttpResponse response{error.status(), kJson, error.json()};
  if (error.status() == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

}  // namespace

std::map<std::string, double> EditServer::lora_scales(
    const std::vector<std::pair<std::string, double>>& choices) const {
  const auto& loaded = request_.inspect.loras;
  std::string names;
  for (const auto& lora : loaded)
    names += (names.empty() ? "" : ", ") + std::filesystem::path(lora.path).stem().string();
  std::map<std::string, double> scales;
  for (const auto& [name, scale] : choices) {
    std::vector<const LoraFile*> named;
    for (const auto& lora : loaded)
      if (lora.path == name || std::filesystem::path(lora.path).stem().string() == name) named.push_back(&lora);
    if (named.empty())
      throw ApiError(
          400,
          loaded.empty()
              ? "lora '" + name.substr(0, 80) +
                    "': the server was started without LoRAs (vramguard serve --lora FILE[:SCALE])"
              : "lora '" + name.substr(0, 80) + "' is none of the LoRAs the server was started with: " + names,
          "lora", "unknown_lora");
    if (named.size() > 1)
      throw ApiError(400,
                     "lora '" + name.substr(0, 80) +
                         "' names several LoRAs the server was started with; name one by its path as given to --lora",
                     "lora", "ambiguous_lora");
    scales[named.front()->path] = scale;
  }
  return scales;
}

// An edit checked and waiting for the worker: its jobs (one per result), and how to answer.
struct EditServer::Pending {
  std::uint64_t id = 0;  // the request's number, as the monitor's page shows it
  int steps = 0;         // denoising steps of each result
  std::string size;      // "WxH" as asked, or "auto"
  std::chrono::steady_clock::time_point received;
  std::vector<std::unique_ptr<pipelines::PipelineJob>> jobs;
  HttpServer::Respond respond;
  std::shared_ptr<const std::atomic<bool>> closed;
  std::chrono::steady_clock::time_point deadline;
};

EditServer::EditServer(LoadRequest request, const InspectedModel& model, const pipelines::PipelineSpec& pipeline,
                       std::uint64_t loaded_activation_bytes, EditServerOptions options)
    : request_(std::move(request)),
      model_(model),
      pipeline_(pipeline),
      loaded_activation_bytes_(loaded_activation_bytes),
      options_(std::move(options)) {}

EditServer::~EditServer() { shut_down(); }

void EditServer::start() {
  worker_ = std::thread([this] { work(); });
}

std::string EditServer::load_failure() const {
  std::lock_guard lock(mutex_);
  return load_failure_;
}

void EditServer::count(int status) {
  std::lock_guard lock(mutex_);
  ++requests_by_status_[status];
}

void EditServer::handle(HttpRequest request, HttpServer::Respond respond,
                        std::shared_ptr<const std::atomic<bool>> closed) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  HttpResponse response;
  try {
    if (options_.api_key && path.rfind("/v1/", 0) == 0 &&
        !bearer_token_matches(request.authorization, *options_.api_key))
      throw ApiError(401,
                     request.authorization.empty()
                         ? "this server needs an API key: send the header 'Authorization: Bearer KEY'"
                         : "the API key sent (Authorization: Bearer ...) is not this server's",
                     {}, "invalid_api_key", "invalid_request_error");
    if (path == "/v1/images/edits" && request.method == "POST") {
      response = edit(request, respond, closed);
      if (response.status == 0) return;  // queued: the worker answers
    } else if (path == "/health" && request.method != "POST") {
      const std::string failure = load_failure();
      response =
          ready() ? HttpResponse{200, kJson, loaded_ ? R"({"status":"ok"})" : R"({"status":"ok","loaded":false})"}
                  : HttpResponse{
                        503, kJson,
                        nlohmann::json{{"status", failure.empty() ? "loading" : "failed"}, {"error", failure}}.dump()};
    } else if (path == "/v1/models" && request.method != "POST") {
      // The LoRAs a request's lora field may name, with the scales they run at when it names none.
      nlohmann::json loras = nlohmann::json::array();
      for (const auto& lora : request_.inspect.loras)
        loras.push_back({{"name", std::filesystem::path(lora.path).stem().string()}, {"scale", lora.scale}});
      response = {200, kJson,
                  nlohmann::json{{"object", "list"},
                                 {"data",
                                  {{{"id", options_.model_id},
                                    {"object", "model"},
                                    {"created", std::time(nullptr)},
                                    {"owned_by", "vramguard"},
                                    {"loras", loras}}}}}
                      .dump()};
    } else if (path == "/metrics" && request.method != "POST") {
      response = {200, "text/plain; version=0.0.4; charset=utf-8", metrics()};
    } else {
      throw ApiError(
          404,
          "no endpoint " + request.method + " " + path.substr(0, 100) +
              "; vramguard serves POST /v1/images/edits, GET /v1/models, /health, /metrics, / (the monitor's page) "
              "and /api/state");
    }
  } catch (const ApiError& e) {
    response = api_error(e);
  } catch (const std::exception& e) {
    response = api_error(ApiError(500, std::string("internal error: ") + e.what(), {}, "internal", "server_error"));
  }
  count(response.status);
  respond(std::move(response));
}

HttpResponse EditServer::edit(const HttpRequest& http, HttpServer::Respond& respond,
                              std::shared_ptr<const std::atomic<bool>> closed) {
  if (stopping_) throw ApiError(503, "the server is shutting down", {}, "shutting_down", "server_error");
  if (!ready()) {
    const std::string failure = load_failure();
    throw ApiError(503,
                   failure.empty() ? "the model is still loading; GET /health answers 200 once it is ready"
                                   : "the model could not be loaded: " + failure,
                   {}, "model_not_ready", "server_error");
  }
  ImageEditRequest edit;
  try {
    edit = read_image_edit_request(parse_multipart_form(http.content_type, http.body), options_.limits);
  } catch (const InputError& e) {  // the body itself: no one field to name
    throw ApiError(400, e.what(), {}, "invalid_request");
  }
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queue) {
      HttpResponse full = api_error(ApiError(429,
                                             "the queue is full (" + std::to_string(options_.max_queue) +
                                                 " edits waiting, --max-queue); try again shortly",
                                             {}, "queue_full", "server_error"));
      full.headers.emplace_back("Retry-After", "10");
      return full;
    }
  }
  // Every result's job prepared and checked now, as the CLI checks its inputs: a bad picture or prompt
  // is refused before it waits in the queue.
  auto pending = std::make_unique<Pending>();
  pending->id = next_request_++;
  pending->steps = edit.settings.steps;
  pending->size = edit.settings.width && edit.settings.height
                      ? std::to_string(*edit.settings.width) + "x" + std::to_string(*edit.settings.height)
                      : "auto";
  pending->received = std::chrono::steady_clock::now();
  // The pictures stay in memory: nothing a request sends reaches the file system.
  for (std::size_t i = 0; i < edit.pictures.size(); ++i)
    edit.settings.images.emplace_back("picture-" + std::to_string(i + 1), std::move(edit.pictures[i]));
  try {
    for (int i = 0; i < edit.n; ++i) {
      pipelines::EditSettings settings = edit.settings;
      settings.seed = edit.settings.seed + static_cast<std::uint64_t>(i);
      settings.cfg_batching = options_.cfg_batching;
      pending->jobs.push_back(pipeline_.prepare_edit(model_.source.root, settings));
      if (edit.loras) pending->jobs.back()->lora_scales = lora_scales(*edit.loras);
    }
    const pipelines::PipelineDemands demands =
        runtime_library().check_pipeline(model_, *pending->jobs.front(), compute_on(request_));
    if (demands.activation_bytes > loaded_activation_bytes_)
      throw ApiError(413,
                     "this edit needs " + std::to_string(demands.activation_bytes) +
                         " bytes of activations, more than the server was loaded for (a picture and result of "
                         "--max-pixels); send smaller pictures or size",
                     "size", "too_large_for_loaded_plan");
  } catch (const ApiError&) {
    throw;
  } catch (const InputError& e) {
    // A picture is named as the request named it, not by the private file it was written to.
    const bool picture = e.path().find("picture-") != std::string::npos;
    const std::string param = picture ? "image" : e.path();
    const bool too_large = picture && std::string(e.what()).find("decompression bomb") != std::string::npos;
    throw ApiError(too_large ? 413 : 400, std::string(e.what()).replace(0, e.path().size(), param), param,
                   too_large ? "image_too_large" : "invalid_value");
  } catch (const Error& e) {
    // Other inputs the pipeline refuses as the CLI would (one step against a shift_terminal, a prompt past
    // the text encoder's positions): the request's fault, with what to do.
    if (e.exit_code() != ExitCode::bad_input) throw;
    throw ApiError(400, e.hint().empty() ? e.what() : std::string(e.what()) + "; " + e.hint(), {}, "invalid_value");
  }
  pending->respond = respond;
  pending->closed = std::move(closed);
  pending->deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(options_.timeout_seconds));
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
  return HttpResponse{0, "", ""};
}

void EditServer::load() {
  const auto started = std::chrono::steady_clock::now();
  RunHooks hooks;
  hooks.cancel = &stop_flag();
  hooks.log_level = static_cast<int>(log::level());
  service_.reset(runtime_library().open_pipeline_service(request_, model_, hooks));
  loaded_ = true;
  std::lock_guard lock(mutex_);
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ++loads_;
}

void EditServer::work() {
  try {
    load();
    ready_ = true;
    log::info("loaded: serving edits");
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    load_failure_ = e.what();
    log::error("the model could not be loaded: ", e.what());
    return;
  }
  while (true) {
    std::unique_ptr<Pending> pending;
    {
      std::unique_lock lock(mutex_);
      const auto woken = [this] { return stopping_ || !queue_.empty(); };
      if (options_.idle_unload_seconds && service_) {
        // Idle for --idle-unload: the model leaves the GPU; the next edit loads it again.
        if (!wake_.wait_for(lock, std::chrono::seconds(*options_.idle_unload_seconds), woken)) {
          lock.unlock();
          service_->unload();
          service_.reset();
          loaded_ = false;
          ::malloc_trim(0);  // the host memory the model held goes back to the system too, not only the GPU's
          log::info("unloaded after ", *options_.idle_unload_seconds, " s without an edit");
          continue;
        }
      } else {
        wake_.wait(lock, woken);
      }
      if (queue_.empty() || stopping_) break;  // the queued are answered 503 by shut_down
      pending = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!service_) {
      try {
        load();
        log::info("loaded again for an edit");
      } catch (const std::exception& e) {
        count(500);
        pending->respond(api_error(ApiError(500, std::string("the model could not be loaded again: ") + e.what(), {},
                                            "load_failed", "server_error")));
        continue;
      }
    }
    answer(*pending);
  }
}

void EditServer::answer(Pending& pending) {
  nlohmann::json data = nlohmann::json::array();
  std::atomic<bool> cancel{false};
  bool timed_out = std::chrono::steady_clock::now() > pending.deadline;
  const bool waited_out = timed_out;  // its time ran out in the queue, before it started
  HttpResponse response;
  {
    std::lock_guard lock(mutex_);
    running_ = Running{pending.id, 0, pending.jobs.size(), 0, pending.steps, std::chrono::steady_clock::now()};
  }
  try {
    // Its time ran out in the queue: answered without starting.
    if (timed_out) throw Interrupted("the edit waited past the server's timeout");
    for (const auto& job : pending.jobs) {
      {
        std::lock_guard lock(mutex_);
        running_->result = static_cast<std::size_t>(data.size());
        running_->step = 0;
      }
      auto on_step = [&](const pipelines::PipelineStep& step) {
        {
          std::lock_guard lock(mutex_);
          step_seconds_sum_ += step.seconds;
          ++steps_;
          ++running_->step;
        }
        // Stopped at the next step when the client hung up or the request ran out of time.
        timed_out = std::chrono::steady_clock::now() > pending.deadline;
        if (pending.closed->load() || timed_out) cancel = true;
      };
      const auto outcome = service_->run(*job, on_step, &cancel);
      const auto& edit = static_cast<const pipelines::EditOutcome&>(*outcome);
      data.push_back({{"b64_json", base64(pipelines::encode_png(edit.image))}});
      std::lock_guard lock(mutex_);
      for (const auto& [device, bytes] : edit.peaks.peak_bytes) {
        last_peak_bytes_[device] = bytes;
        peak_bytes_[device] = std::max(peak_bytes_[device], bytes);
      }
    }
    response = {200, kJson, nlohmann::json{{"created", std::time(nullptr)}, {"data", data}}.dump()};
  } catch (const Interrupted&) {
    response = api_error(
        timed_out ? ApiError(504,
                             std::string(waited_out ? "the edit waited in the queue" : "the edit ran") +
                                 " past the server's timeout (" + timeout_text() + ", --timeout)",
                             {}, "timeout", "server_error")
                  : ApiError(499, "the client hung up; the edit was stopped", {}, "cancelled", "server_error"));
  } catch (const std::exception& e) {
    response = api_error(ApiError(500, std::string("the edit failed: ") + e.what(), {}, "edit_failed", "server_error"));
    log::error("an edit failed: ", e.what());
  }
  {
    std::lock_guard lock(mutex_);
    running_.reset();
  }
  count(response.status);
  // What the edit freed goes back to the system before it is answered, so that the process's memory after
  // each edit is what it holds for the next, not what the allocator kept of the last (glibc keeps freed
  // heap pages otherwise).
  ::malloc_trim(0);
  pending.respond(std::move(response));
}

void EditServer::shut_down() {
  std::deque<std::unique_ptr<Pending>> left;
  {
    std::lock_guard lock(mutex_);
    if (stopping_.exchange(true) && !worker_.joinable()) return;
    left.swap(queue_);
  }
  wake_.notify_all();
  for (auto& pending : left) {
    count(503);
    pending->respond(api_error(ApiError(503, "the server is shutting down", {}, "shutting_down", "server_error")));
  }
  if (worker_.joinable()) worker_.join();  // the running edit finishes
  if (service_) {
    service_->unload();
    service_.reset();
  }
}

std::string EditServer::timeout_text() const {
  std::ostringstream text;
  text << options_.timeout_seconds << " s";
  return text.str();
}

nlohmann::json EditServer::queue_json() const {
  const auto now = std::chrono::steady_clock::now();
  auto seconds_since = [&](std::chrono::steady_clock::time_point then) {
    return std::chrono::duration<double>(now - then).count();
  };
  std::lock_guard lock(mutex_);
  nlohmann::json doc{{"loaded", loaded_.load()},
                     {"ready", ready_.load()},
                     {"max_queue", options_.max_queue},
                     {"running", nullptr},
                     {"waiting", nlohmann::json::array()},
                     {"answered", nlohmann::json::object()},
                     {"step_seconds_mean", steps_ ? step_seconds_sum_ / static_cast<double>(steps_) : 0.0}};
  if (running_)
    doc["running"] = {{"id", running_->id},           {"result", running_->result + 1},
                      {"results", running_->results}, {"step", running_->step},
                      {"steps", running_->steps},     {"seconds", seconds_since(running_->started)}};
  for (const auto& pending : queue_)
    doc["waiting"].push_back({{"id", pending->id},
                              {"results", pending->jobs.size()},
                              {"steps", pending->steps},
                              {"size", pending->size},
                              {"waited_seconds", seconds_since(pending->received)}});
  for (const auto& [status, count] : requests_by_status_) doc["answered"][std::to_string(status)] = count;
  return doc;
}

std::string EditServer::metrics() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP vramguard_serve_requests_total Requests answered, by HTTP status.\n"
      << "# TYPE vramguard_serve_requests_total counter\n";
  for (const auto& [status, count] : requests_by_status_)
    out << "vramguard_serve_requests_total{status=\"" << status << "\"} " << count << "\n";
  out << "# HELP vramguard_serve_queue_length Edits waiting for the GPU worker.\n"
      << "# TYPE vramguard_serve_queue_length gauge\nvramguard_serve_queue_length " << queue_.size() << "\n"
      << "# HELP vramguard_serve_running Edits the GPU worker is running (0 or 1).\n"
      << "# TYPE vramguard_serve_running gauge\nvramguard_serve_running " << (running_ ? 1 : 0) << "\n"
      << "# HELP vramguard_serve_step_seconds Denoising steps' time.\n# TYPE vramguard_serve_step_seconds summary\n"
      << "vramguard_serve_step_seconds_sum " << step_seconds_sum_ << "\nvramguard_serve_step_seconds_count " << steps_
      << "\n# HELP vramguard_serve_loaded Whether the model is loaded.\n# TYPE vramguard_serve_loaded gauge\n"
      << "vramguard_serve_loaded " << (loaded_ ? 1 : 0) << "\n"
      << "# HELP vramguard_serve_loads_total Loads of the model (the first, and after each idle unload).\n"
      << "# TYPE vramguard_serve_loads_total counter\nvramguard_serve_loads_total " << loads_ << "\n"
      << "# HELP vramguard_serve_load_seconds The last load's time.\n# TYPE vramguard_serve_load_seconds gauge\n"
      << "vramguard_serve_load_seconds " << load_seconds_ << "\n"
      << "# HELP vramguard_serve_gpu_peak_bytes The most our tensors took on a GPU in any edit (activations "
         "included).\n"
      << "# TYPE vramguard_serve_gpu_peak_bytes gauge\n";
  for (const auto& [device, bytes] : peak_bytes_)
    out << "vramguard_serve_gpu_peak_bytes{device=\"" << device << "\"} " << bytes << "\n";
  out << "# HELP vramguard_serve_gpu_last_edit_peak_bytes The most our tensors took on a GPU in the last edit.\n"
      << "# TYPE vramguard_serve_gpu_last_edit_peak_bytes gauge\n";
  for (const auto& [device, bytes] : last_peak_bytes_)
    out << "vramguard_serve_gpu_last_edit_peak_bytes{device=\"" << device << "\"} " << bytes << "\n";
  return out.str();
}

}  // namespace vramguard
