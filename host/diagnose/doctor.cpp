#include "diagnose/doctor.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <ostream>
#include <sstream>

#include "budget/budget_options.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "devices/host_memory.hpp"
#include "devices/nvml_processes.hpp"
#include "diagnose/process_control.hpp"
#include "guard/plan_validator.hpp"
#include "guard/report.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

// What a PCIe link carries in pinned host→device copies, per lane, by generation (about 85 % of the
// raw rate: 53–55 GB/s measured at gen 5 x16 on the H100 and H200 machines).
double expected_link_bytes_per_s(unsigned int generation, unsigned int width) {
  static const double per_lane_gb[] = {0, 0.21, 0.42, 0.84, 1.68, 3.4, 6.8};
  const unsigned int g = std::min(generation, 6u);
  return per_lane_gb[g] * 1e9 * static_cast<double>(width);
}

std::string gb(std::uint64_t bytes) { return format_gb(bytes) + " GB"; }

std::string describe_process(const GpuProcess& p) {
  std::string who = p.pid == 0 ? p.name : "pid " + std::to_string(p.pid) + " (" + p.name;
  if (p.pid != 0) who += p.user.empty() ? ")" : ", user " + p.user + ")";
  return who;
}

// Yours: what fix --terminate-own would stop (one rule for both): never PID 1, a kernel thread, a
// system program, another user's, this shell or its ancestors; as root, only this session's.
bool owned_by_us(const GpuProcess& p) { return refusal_to_stop(p).empty(); }

void check_gpus(DeviceRuntime& runtime, DoctorReport& report) {
  const auto gpus = runtime.probe_gpus();
  if (gpus.empty()) {
    report.findings.push_back(
        {Severity::blocker,
         "gpu",
         "",
         "no usable CUDA device",
         "the driver sees no GPU, or CUDA_VISIBLE_DEVICES hides them",
         "check nvidia-smi and CUDA_VISIBLE_DEVICES; to plan without a GPU use --simulate rtx4080",
         {}});
    return;
  }
  for (std::size_t g = 0; g < gpus.size(); ++g) {
    const DeviceInfo& gpu = gpus[g];
    const int index = static_cast<int>(g);
    const MemorySnapshot snap = runtime.snapshot(index);
    Finding f{Severity::ok, "gpu", gpu.name(), "", "", "", {}};
    std::vector<Finding> extra;  // MIG and ECC, after the card's own line
    const auto facts = runtime.gpu_facts(index);
    std::ostringstream line;
    line << gpu.name() << " " << (facts && !facts->name.empty() ? facts->name : gpu.description);
    if (facts && !facts->compute_capability.empty()) line << ", compute " << facts->compute_capability;
    if (facts && !facts->driver_version.empty()) line << ", driver " << facts->driver_version;
    if (facts && !facts->cuda_driver_version.empty()) line << ", CUDA " << facts->cuda_driver_version;
    line << ": " << gb(snap.total) << ", " << gb(snap.free) << " free";
    if (facts && facts->pcie_generation && facts->pcie_width)
      line << ", PCIe gen " << *facts->pcie_generation << " x" << *facts->pcie_width;
    line << ", pinned host->device " << format_gb(static_cast<std::uint64_t>(gpu.host_to_device_bytes_per_s)) << " GB/s"
         << (runtime.name() == "simulated" ? " (declared)" : " (measured now)");
    f.summary = line.str();
    f.data = {{"total_bytes", snap.total},
              {"free_bytes", snap.free},
              {"context_bytes", gpu.context_bytes},
              {"context_measured", gpu.context_measured},
              {"host_to_device_bytes_per_s", gpu.host_to_device_bytes_per_s},
              {"description", gpu.description}};
    if (facts) {
      f.data["name"] = facts->name;
      f.data["compute_capability"] = facts->compute_capability;
      f.data["driver_version"] = facts->driver_version;
      f.data["cuda_driver_version"] = facts->cuda_driver_version;
      if (facts->pcie_generation) f.data["pcie_generation"] = *facts->pcie_generation;
      if (facts->pcie_width) f.data["pcie_width"] = *facts->pcie_width;
      if (facts->max_pcie_generation) f.data["max_pcie_generation"] = *facts->max_pcie_generation;
      if (facts->max_pcie_width) f.data["max_pcie_width"] = *facts->max_pcie_width;
      if (facts->ecc_enabled) f.data["ecc_enabled"] = *facts->ecc_enabled;
      if (facts->mig_enabled) f.data["mig_enabled"] = *facts->mig_enabled;
      // The link: the bandwidth measured now against what the card's slot should carry.
      if (facts->max_pcie_generation && facts->max_pcie_width) {
        const double expected = expected_link_bytes_per_s(*facts->max_pcie_generation, *facts->max_pcie_width);
        if (expected > 0 && gpu.host_to_device_bytes_per_s < 0.5 * expected) {
          f.severity = Severity::warning;
          f.cause = "streamed weights cross this link every step: it carries " +
                    format_gb(static_cast<std::uint64_t>(gpu.host_to_device_bytes_per_s)) + " GB/s where a gen " +
                    std::to_string(*facts->max_pcie_generation) + " x" + std::to_string(*facts->max_pcie_width) +
                    " link carries about " + format_gb(static_cast<std::uint64_t>(expected)) + " GB/s";
          f.remedy =
              "check that the card sits in a full-width slot at its generation (BIOS, riser), and that nothing else "
              "copies "
              "over the link now";
        }
      }
      if (facts->mig_enabled && *facts->mig_enabled) {
        extra.push_back({Severity::warning,
                         "gpu",
                         gpu.name(),
                         gpu.name() + " has MIG enabled",
                         "a MIG instance sees only its share of the card's memory and bandwidth",
                         "disable MIG (nvidia-smi -i " + std::to_string(g) + " -mig 0) to give a model the whole card",
                         {}});
      }
      if (facts->ecc_enabled)
        extra.push_back({Severity::info,
                         "gpu",
                         gpu.name(),
                         gpu.name() + " ECC is " + (*facts->ecc_enabled ? "on" : "off"),
                         "",
                         "",
                         {}});
    }
    if (!gpu.context_measured && runtime.name() == "simulated")
      f.data["context_note"] = "assumed (a simulated GPU has no context to measure)";
    report.findings.push_back(f);
    report.findings.insert(report.findings.end(), extra.begin(), extra.end());
  }
}

void check_processes(DeviceRuntime& runtime, DoctorReport& report) {
  const auto gpus = runtime.probe_gpus();
  for (std::size_t g = 0; g < gpus.size(); ++g) {
    const DeviceId device = DeviceId::gpu(static_cast<int>(g));
    auto processes = runtime.other_processes(static_cast<int>(g));
    std::sort(processes.begin(), processes.end(),
              [](const GpuProcess& a, const GpuProcess& b) { return a.bytes > b.bytes; });
    report.processes[device] = processes;
    const MemorySnapshot snap = runtime.snapshot(static_cast<int>(g));
    std::uint64_t held = 0, own = 0;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& p : processes) {
      held += p.bytes;
      if (owned_by_us(p)) own += p.bytes;
      list.push_back({{"pid", p.pid},
                      {"name", p.name},
                      {"user", p.user},
                      {"command", p.command},
                      {"bytes", p.bytes},
                      {"own_user", owned_by_us(p)},
                      {"ours", false}});
    }
    // This process holds its CUDA context there (made to measure the card), nothing else.
    list.push_back({{"pid", ::getpid()},
                    {"name", "vramguard"},
                    {"bytes", snap.process_total},
                    {"own_user", true},
                    {"ours", true}});
    Finding f{Severity::ok, "processes", device.str(), "", "", "", {{"processes", list}, {"others_bytes", held}}};
    if (processes.empty()) {
      f.summary = device.str() + ": no other process holds memory";
    } else {
      std::string names;
      for (const auto& p : processes)
        names +=
            (names.empty() ? "" : "; ") + describe_process(p) + (owned_by_us(p) ? " [yours]" : "") + " " + gb(p.bytes);
      f.summary = device.str() + ": other processes hold " + gb(held) + ": " + names;
      if (held * 20 >= snap.total) {  // 5 % of the card or more
        f.severity = Severity::warning;
        f.cause = "what they hold is not there for a model: every plan is made with what is free";
        f.remedy = own > 0 ? "stop the ones marked yours if you can (vramguard fix --terminate-own stops them and "
                             "loads the model); "
                             "ask the others' owners"
                           : "ask their owners, or plan with what is free (vramguard compare shows what fits)";
      }
    }
    report.findings.push_back(f);
  }
}

void check_allocator(const LoadRequest& request, DoctorReport& report) {
  Finding f{Severity::ok, "allocator", "", "", "", "", {}};
  std::string settings, set_by;
  for (const char* name : {"PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF"})
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0' && settings.empty()) {
      settings = value;
      set_by = std::string("you, in ") + name;
    }
  if (settings.empty()) {
    settings = request.cuda_alloc_conf;
    set_by = "vramguard, before CUDA starts (cuda_alloc_conf)";
  }
  f.summary = "PyTorch's CUDA allocator: " + settings + " (set by " + set_by + ")";
  f.data = {{"settings", settings}, {"set_by", set_by}};
  if (settings.find("expandable_segments:True") == std::string::npos &&
      settings.find("expandable_segments:true") == std::string::npos) {
    f.severity = Severity::warning;
    f.cause = "without expandable segments, fragmentation can turn free memory into out-of-memory errors";
    f.remedy =
        "add expandable_segments:True (PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, or leave it to vramguard)";
  }
  report.findings.push_back(f);
}

void check_host(const LoadRequest& request, const InspectedModel* model, DoctorReport& report) {
  HostMemoryReading host = read_host_memory();
  if (const auto declared = request.cpu_memory_bytes) host.total_bytes = host.available_bytes = *declared;
  Finding memory{
      Severity::ok,
      "host memory",
      "cpu",
      "host memory: " + gb(host.total_bytes) + ", " + gb(host.available_bytes) + " available" +
          (host.cgroup_limit_bytes ? " (a cgroup limits this process to " + gb(*host.cgroup_limit_bytes) + ")" : ""),
      "",
      "",
      {{"total_bytes", host.total_bytes}, {"available_bytes", host.available_bytes}}};
  if (host.cgroup_limit_bytes) memory.data["cgroup_limit_bytes"] = *host.cgroup_limit_bytes;
  if (model != nullptr && host.available_bytes < model->graph.bytes() / 2) {
    memory.severity = Severity::warning;
    memory.cause =
        "weights streamed from the host live in its memory (or are read from disk each step when they do not fit)";
    memory.remedy = "free host memory, or expect streaming from the page cache at disk speed";
  }
  report.findings.push_back(memory);

  std::optional<std::uint64_t> memlock = memlock_limit_bytes();
  bool simulated_limit = false;
  if (request.simulate && request.simulate->memlock_bytes) {
    memlock = request.simulate->memlock_bytes;
    simulated_limit = true;
  }
  Finding lock{Severity::ok, "memlock", "cpu", "", "", "", {}};
  if (!memlock) {
    lock.summary = "memlock limit: unlimited";
    lock.data = {{"limit_bytes", nullptr}};
  } else {
    lock.summary = "memlock limit: " + format_bytes(*memlock) + (simulated_limit ? " (simulated)" : "");
    lock.data = {{"limit_bytes", *memlock}, {"simulated", simulated_limit}};
    if (*memlock < (1ULL << 30)) {
      lock.severity = Severity::warning;
      lock.cause =
          "page-locked (pinned) host memory may be capped by it where the driver counts it: streamed weights then "
          "sit in pageable memory and copy several times slower";
      lock.remedy =
          "raise it (ulimit -l unlimited, or memlock in /etc/security/limits.conf); registering the page-cached "
          "checkpoint (--stream-from registered) avoids pinned copies altogether";
    }
  }
  report.findings.push_back(lock);
}

// How much of the model each strategy that fits keeps in host memory — streamed weights, pinned or in the
// page cache, which is RAM too — against the RAM there is: where it is short, every step reads the rest
// from disk.
void report_host_memory_needs(const LoadRequest& request, DoctorReport& report) {
  HostMemoryReading host = read_host_memory();
  if (request.cpu_memory_bytes) host.available_bytes = *request.cpu_memory_bytes;
  std::string needs;
  std::uint64_t recommended_bytes = 0;
  nlohmann::json data = nlohmann::json::object();
  for (const auto& fit : report.strategies) {
    if (!fit.fits || !fit.prediction) continue;
    const std::uint64_t bytes = fit.prediction->pinned_bytes + fit.prediction->pageable_bytes;
    needs += (needs.empty() ? "" : ", ") + fit.strategy + " " + gb(bytes);
    data[fit.strategy] = bytes;
    if (report.recommended && fit.strategy == *report.recommended) recommended_bytes = bytes;
  }
  if (needs.empty()) return;
  Finding finding{Severity::ok,
                  "host memory for the model",
                  "cpu",
                  "host memory the model's streamed weights take (pinned, or in the page cache when the checkpoint "
                  "is registered or read at run time): " +
                      needs + "; " + gb(host.available_bytes) + " available" +
                      (request.cpu_memory_bytes ? " (declared)" : ""),
                  "",
                  "",
                  {{"by_strategy_bytes", data}, {"available_bytes", host.available_bytes}}};
  if (recommended_bytes > host.available_bytes) {
    finding.severity = Severity::warning;
    finding.cause = "the weights " + *report.recommended + " streams do not all fit in RAM: every step reads " +
                    gb(recommended_bytes - host.available_bytes) + " of them from disk, at the disk's speed";
    finding.remedy = "free host memory or add RAM; a GPU with more memory keeps more of the model resident";
  }
  report.findings.push_back(finding);
}

void check_model(DeviceRuntime& runtime, const LoadRequest& request, const InspectedModel& model,
                 const PluginRegistry& registry, DoctorReport& report) {
  // The page cache's hold on the checkpoint: what the next load reads from memory, not disk.
  std::uint64_t bytes = 0;
  double cached = 0;
  for (const auto& component : model.components)
    for (const auto& file : component.source.weight_files) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(file, ec);
      if (ec) continue;
      bytes += size;
      cached += page_cache_fraction(file) * static_cast<double>(size);
    }
  const double fraction = bytes > 0 ? cached / static_cast<double>(bytes) : 0;
  Finding cache{fraction >= 0.9 ? Severity::ok : Severity::info,
                "model",
                "",
                model.source.argument + ": " + gb(model.graph.bytes()) + " in " +
                    std::to_string(model.graph.unit_count()) + " units; " +
                    std::to_string(static_cast<int>(fraction * 100 + 0.5)) + " % of its files in the page cache",
                fraction >= 0.9 ? "" : "a load reads what is not cached from disk, at the disk's speed",
                fraction >= 0.9 ? "" : "expect the first load to be slower; later ones read from memory",
                {{"bytes", model.graph.bytes()}, {"page_cache_fraction", fraction}}};
  report.findings.push_back(cache);

  report.strategies = fits_now(runtime, request, model, registry);
  const auto verdict =
      pick_strategy(report.strategies, request.strategy_given ? request.strategy : std::string(), request.job_given);
  if (verdict) report.recommended = verdict->strategy;
  nlohmann::json rows = nlohmann::json::array();
  std::map<DeviceId, std::uint64_t> smallest;
  for (const auto& fit : report.strategies) {
    nlohmann::json row{{"strategy", fit.strategy}, {"fits", fit.fits}, {"why", fit.why}};
    if (fit.prediction) row["predicted"] = prediction_json(*fit.prediction);
    for (const auto& [device, need] : fit.minimum)
      if (!smallest.count(device) || need < smallest[device]) smallest[device] = need;
    rows.push_back(row);
  }
  report_host_memory_needs(request, report);
  if (report.recommended) {
    const auto& best = *std::find_if(report.strategies.begin(), report.strategies.end(),
                                     [&](const StrategyFit& f) { return f.strategy == *report.recommended; });
    std::string fitting;
    for (const auto& fit : report.strategies)
      if (fit.fits) fitting += (fitting.empty() ? "" : ", ") + fit.strategy;
    report.config_text = config_for(request, *report.recommended);
    report.findings.push_back({Severity::ok,
                               "strategies",
                               "",
                               "fits now: " + fitting + ". " + verdict->text,
                               "",
                               "vramguard load " + model.source.argument +
                                   (request.config_file ? " --config " + *request.config_file : std::string()) +
                                   " --strategy " + best.strategy + " (or write this config with --write-config FILE)",
                               {{"strategies", rows}, {"recommended", best.strategy}}});
    return;
  }
  std::string needs;
  for (const auto& [device, need] : smallest)
    needs += (needs.empty() ? "" : ", ") + device.str() + " " + format_bytes(need) + " usable";
  std::string remedy = "raise --max-memory or lower --reserve";
  for (const auto& [device, processes] : report.processes)
    for (const auto& p : processes)
      if (owned_by_us(p)) remedy = "stop your processes holding memory (vramguard fix --terminate-own), " + remedy;
  report.findings.push_back(
      {Severity::blocker,
       "strategies",
       "",
       "no strategy fits " + model.source.argument + " now",
       needs.empty() ? "every strategy's plan exceeds what the devices have free" : "the smallest plan needs " + needs,
       remedy + ", or free GPU memory (the processes above)",
       {{"strategies", rows}}});
}

}  // namespace

std::vector<StrategyFit> fits_now(DeviceRuntime& runtime, const LoadRequest& request, const InspectedModel& model,
                                  const PluginRegistry& registry) {
  const DeviceBudget budget = probe_budget_for(runtime, model, request);
  std::vector<StrategyFit> fits;
  for (const auto& name : registry.names())
    fits.push_back(evaluate_strategy(registry, name, model.graph, budget, request.workload,
                                     request.strategy_options_for(name, false)));
  return fits;
}

std::string config_for(const LoadRequest& request, const std::string& strategy) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::ostringstream out;
  out << "# Written by vramguard on " << date << " for "
      << (request.model.empty() ? std::string("the model") : request.model)
      << ": loads it with what the devices had free then.\n";
  out << "strategy = " << strategy << "\n";
  for (const auto& [option, value] : request.as_given) {
    std::string key = option;
    std::replace(key.begin(), key.end(), '-', '_');
    out << key << " = " << value << "\n";
  }
  const StrategyOptions options = request.strategy_options_for(strategy, false);
  if (!options.empty()) {
    out << "\n[strategy." << strategy << "]\n";
    for (const auto& [key, value] : options) out << key << " = " << value << "\n";
  }
  return out.str();
}

DoctorReport diagnose(DeviceRuntime& runtime, const LoadRequest& request, const InspectedModel* model,
                      const PluginRegistry* registry) {
  DoctorReport report;
  report.runtime = runtime.name();
  check_gpus(runtime, report);
  if (!runtime.probe_gpus().empty()) check_processes(runtime, report);
  check_allocator(request, report);
  check_host(request, model, report);
  if (model != nullptr && registry != nullptr && !runtime.probe_gpus().empty())
    check_model(runtime, request, *model, *registry, report);
  return report;
}

nlohmann::json doctor_json(const DoctorReport& report) {
  nlohmann::json doc;
  doc["runtime"] = report.runtime;
  doc["blocked"] = report.blocked();
  doc["findings"] = nlohmann::json::array();
  for (const auto& f : report.findings) doc["findings"].push_back(finding_json(f));
  if (report.recommended) doc["recommended_strategy"] = *report.recommended;
  if (!report.config_text.empty()) doc["config"] = report.config_text;
  return doc;
}

void print_doctor(const DoctorReport& report, std::ostream& out) {
  out << "vramguard doctor (" << report.runtime << " devices)\n\n";
  for (const auto& f : report.findings) {
    const char* mark = f.severity == Severity::blocker   ? "[BLOCKS] "
                       : f.severity == Severity::warning ? "[warn]   "
                       : f.severity == Severity::info    ? "[info]   "
                                                         : "[ok]     ";
    out << mark << f.summary << "\n";
    if (!f.cause.empty()) out << "         why: " << f.cause << "\n";
    if (!f.remedy.empty()) out << "         do:  " << f.remedy << "\n";
  }
  if (!report.strategies.empty()) {
    out << "\nStrategies now:\n";
    for (const auto& fit : report.strategies) {
      out << "  " << fit.strategy << ": ";
      if (fit.fits)
        out << "fits, peak " <<
            [&] {
              std::string peaks;
              for (const auto& d : fit.prediction->devices)
                if (d.device.is_gpu() && d.peak_bytes > 0)
                  peaks += (peaks.empty() ? "" : ", ") + d.device.str() + " " + gb(d.peak_bytes);
              return peaks;
            }()
            << ", " << format_seconds(fit.prediction->step_seconds) << " per pass\n";
      else out << fit.why << "\n";
    }
  }
  out << "\n"
      << (report.blocked() ? "Something blocks a load (marked BLOCKS): exit 1." : "Nothing blocks a load.") << "\n";
}

}  // namespace vramguard
