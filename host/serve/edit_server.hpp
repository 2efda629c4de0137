#pragma once
// `vramguard serve`'s server: the pipeline loaded once (the runtime library's PipelineService), one GPU
// worker taking edits first in, first out, and the endpoints — POST /v1/images/edits (the OpenAI Images
// API), GET /v1/models, /health (503 until loaded) and /metrics (Prometheus). Every edit's inputs are
// checked before it is queued, as the CLI checks them; after any refusal or failure it keeps serving.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/model_inspector.hpp"
#include "monitor/http_server.hpp"
#include "pipeline_registry.hpp"
#include "request/load_request.hpp"
#include "run/runtime_library.hpp"
#include "serve/image_edit_request.hpp"

namespace vramguard {

struct EditServerOptions {
  ServeLimits limits;
  std::size_t max_queue = 8;     // waiting edits; a full queue answers 429 with Retry-After
  double timeout_seconds = 600;  // an edit still unfinished then is stopped at its next step (504)
  std::string model_id;          // what /v1/models lists
  pipelines::CfgBatching cfg_batching = pipelines::CfgBatching::automatic;  // every edit's (--cfg-batch)
  std::optional<std::uint64_t> idle_unload_seconds;  // unload after this long without an edit; load again on the next
  // Requests to /v1/ must carry `Authorization: Bearer` this (401 otherwise); /health, /metrics and the
  // monitor's page stay open, for probes and scrapers.
  std::optional<std::string> api_key;
};

class EditServer {
 public:
  // `request` already carries the headroom and workload of the largest edit served (serve_command).
  EditServer(LoadRequest request, const InspectedModel& model, const pipelines::PipelineSpec& pipeline,
             std::uint64_t loaded_activation_bytes, EditServerOptions options);
  ~EditServer();

  // Loads on the worker thread (GET /health answers 503 until it is done).
  void start();
  // The HTTP server's handler.
  void handle(HttpRequest request, HttpServer::Respond respond, std::shared_ptr<const std::atomic<bool>> closed);
  // Stops taking edits: the running one finishes, those queued are answered 503; then unloads.
  void shut_down();
  // Set when loading failed: why (the server then answers 503 to everything but /metrics).
  std::string load_failure() const;
  // Taking edits: loaded once (and perhaps unloaded since for idleness: the next edit loads it again).
  bool ready() const { return ready_.load(); }
  // What the monitor's page shows of the queue: the running edit and its step, those waiting in order,
  // the answers given by status.
  nlohmann::json queue_json() const;

 private:
  struct Pending;
  HttpResponse edit(const HttpRequest& request, HttpServer::Respond& respond,
                    std::shared_ptr<const std::atomic<bool>> closed);
  void work();
  void load();  // the service opened, timed; throws what opening throws
  void answer(Pending& pending);
  std::string metrics() const;
  std::string timeout_text() const;  // "600 s"
  // A request's lora choices as the job takes them: by each LoRA's file as given at start. ApiError (400)
  // for a name that is none of them, or several.
  std::map<std::string, double> lora_scales(const std::vector<std::pair<std::string, double>>& choices) const;
  void count(int status);

  LoadRequest request_;
  const InspectedModel& model_;
  const pipelines::PipelineSpec& pipeline_;
  std::uint64_t loaded_activation_bytes_;
  EditServerOptions options_;

  std::unique_ptr<PipelineService> service_;
  std::atomic<bool> ready_{false}, loaded_{false}, stopping_{false};
  double load_seconds_ = 0;
  std::uint64_t loads_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Pending>> queue_;
  std::string load_failure_;
  std::map<int, std::uint64_t> requests_by_status_;
  std::map<std::string, std::uint64_t> peak_bytes_, last_peak_bytes_;  // per GPU: of every edit, of the last
  double step_seconds_sum_ = 0;
  std::uint64_t steps_ = 0;
  std::atomic<std::uint64_t> next_request_{0};  // requests are read on the HTTP server's threads
  struct Running {
    std::uint64_t id = 0;
    std::size_t result = 0, results = 1;  // the result being made, of the request's n
    int step = 0, steps = 0;              // steps done of the current result
    std::chrono::steady_clock::time_point started;
  };
  std::optional<Running> running_;  // the edit the worker runs now
  std::thread worker_;
};

}  // namespace vramguard
