#include "guard/report.hpp"

#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/text.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

nlohmann::json snapshot_json(const std::vector<MemorySnapshot>& snaps) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& s : snaps)
    out[s.device.str()] = {{"total_bytes", s.total},
                           {"free_bytes", s.free},
                           {"ours_in_use_bytes", s.ours_in_use},
                           {"ours_cached_bytes", s.ours_cached},
                           {"others_bytes", s.others},
                           {"process_bytes", s.process_total}};
  return out;
}

double percent_error(std::uint64_t predicted, std::uint64_t measured) {
  return measured
             ? 100.0 * (static_cast<double>(predicted) - static_cast<double>(measured)) / static_cast<double>(measured)
             : 0;
}

// Predicted (resident + window) against measured (our allocations) for the attempt that loaded.
nlohmann::json accuracy_json(const AttemptRecord& attempt) {
  nlohmann::json out = nlohmann::json::object();
  if (!attempt.prediction) return out;
  for (const auto& [device, measured] : attempt.measured_bytes) {
    const auto* predicted = attempt.prediction->find(device);
    if (!predicted) continue;
    const std::uint64_t weights = predicted->resident_bytes + predicted->window_bytes;
    auto& entry = out[device.str()];
    entry = {{"predicted_weights_and_window_bytes", weights},     {"measured_bytes", measured},
             {"error_percent", percent_error(weights, measured)}, {"predicted_peak_bytes", predicted->peak_bytes},
             {"context_bytes", predicted->context_bytes},         {"headroom_bytes", predicted->headroom_bytes}};
    // Against what the process really holds (context and allocator included), where NVML can tell.
    if (const auto it = attempt.measured_process_bytes.find(device); it != attempt.measured_process_bytes.end()) {
      const std::uint64_t load_peak = predicted->context_bytes + weights;
      entry["predicted_load_peak_bytes"] = load_peak;
      entry["measured_process_bytes"] = it->second;
      entry["load_peak_error_percent"] = percent_error(load_peak, it->second);
    }
  }
  return out;
}

std::string gb(std::uint64_t bytes) { return format_gb(bytes) + " GB"; }

}  // namespace

nlohmann::json prediction_json(const Prediction& prediction) {
  nlohmann::json components = nlohmann::json::array();
  for (const auto& cp : prediction.components)
    components.push_back({{"name", cp.component},
                          {"tokens", cp.tokens},
                          {"passes_per_job", cp.passes},
                          {"streamed_bytes_per_pass", cp.streamed_bytes},
                          {"compute_seconds", cp.compute_seconds},
                          {"copy_seconds", cp.copy_seconds},
                          {"pass_seconds", cp.step_seconds}});
  nlohmann::json devices = nlohmann::json::object();
  for (const auto& d : prediction.devices)
    devices[d.device.str()] = {{"resident_bytes", d.resident_bytes},
                               {"window_bytes", d.window_bytes},
                               {"headroom_bytes", d.headroom_bytes},
                               {"context_bytes", d.context_bytes},
                               {"adapter_bytes", d.adapter_bytes},
                               {"peak_bytes", d.peak_bytes},
                               {"fits", d.fits}};
  return {{"ready_seconds", prediction.ready_seconds},
          {"step_seconds", prediction.step_seconds},
          {"streamed_bytes_per_step", prediction.streamed_bytes_per_step},
          {"job_seconds", prediction.job_seconds},
          {"streamed_bytes_per_job", prediction.streamed_bytes_per_job},
          {"host_bytes", prediction.pinned_bytes},
          {"page_cache_bytes", prediction.pageable_bytes},
          {"stream_source", std::string(stream_source_name(prediction.stream_source))},
          {"stream_source_reason", prediction.stream_source_reason},
          {"devices", devices},
          {"components", components}};
}

nlohmann::json guard_report_json(const GuardReport& report) {
  nlohmann::json doc;
  doc["model"] = report.model;
  doc["runtime"] = report.runtime;
  doc["allocator"] = report.allocator_settings;
  doc["success"] = report.success;
  doc["strategy"] = report.final_strategy;
  doc["warnings"] = report.warnings;
  doc["notes"] = report.notes;
  doc["advice"] = report.advice;
  doc["fits_now"] = report.fits_now;
  doc["baseline"] = snapshot_json(report.baseline);
  if (!report.after_unload.empty()) doc["after_unload"] = snapshot_json(report.after_unload);
  doc["other_processes"] = nlohmann::json::object();
  for (const auto& [device, processes] : report.other_processes)
    for (const auto& p : processes)
      doc["other_processes"][device.str()].push_back(
          {{"pid", p.pid}, {"name", p.name}, {"user", p.user}, {"bytes", p.bytes}});
  doc["attempts"] = nlohmann::json::array();
  for (const auto& a : report.attempts) {
    nlohmann::json leaked = nlohmann::json::object();
    for (const auto& [device, bytes] : a.leaked_bytes) leaked[device.str()] = bytes;
    nlohmann::json attempt{{"strategy", a.strategy},
                           {"outcome", a.outcome},
                           {"leaked_bytes", leaked},
                           {"shortfall_bytes", a.shortfall_bytes},
                           {"stages", nlohmann::json::array()}};
    if (a.oom_device) attempt["oom_device"] = a.oom_device->str();
    for (const auto& s : a.stages)
      attempt["stages"].push_back({{"stage", s.stage},
                                   {"seconds", s.seconds},
                                   {"outcome", s.outcome},
                                   {"before", snapshot_json(s.before)},
                                   {"after", snapshot_json(s.after)}});
    if (a.prediction) attempt["predicted"] = prediction_json(*a.prediction);
    if (a.placement) {
      attempt["prefetch_depth"] = a.placement->prefetch_depth;
      attempt["explanation"] = a.placement->explanation;
    }
    if (a.outcome == "loaded") attempt["predicted_vs_measured"] = accuracy_json(a);
    doc["attempts"].push_back(attempt);
  }
  const auto& st = report.statistics;
  doc["load"] = {
      {"seconds", st.seconds},
      {"bytes_to_gpus", st.bytes_to_gpus},
      {"bytes_to_host", st.bytes_to_host},
      {"bytes_registered", st.bytes_registered},
      {"bytes_left_mapped", st.bytes_left_mapped},
      {"window_bytes", st.window_bytes},
      {"pageable_bytes", st.pageable_bytes},
      {"stream_source", std::string(stream_source_name(st.stream_source))},
      {"bytes_from_registered_pages", st.bytes_from_registered_pages},
      {"allocation_seconds", st.allocation_seconds},
      {"registration_seconds", st.registration_seconds},
      {"gpu_throughput_bytes_per_s", st.seconds > 0 ? static_cast<double>(st.bytes_to_gpus) / st.seconds : 0},
      {"throughput_bytes_per_s",
       st.seconds > 0 ? static_cast<double>(st.bytes_to_gpus + st.bytes_to_host) / st.seconds : 0}};
  doc["verified_tensors"] = report.verified_tensors;
  doc["data_verified"] = report.data_verified;
  return doc;
}

void print_guard_report(const GuardReport& report, std::ostream& out,
                        const std::function<void(std::ostream&)>& what_ran) {
  const auto& st = report.statistics;
  if (report.success) {
    const double seconds = std::max(st.seconds, 1e-9);
    out << "Loaded " << report.model << " with " << report.final_strategy << " on " << report.runtime << " devices in "
        << format_seconds(st.seconds) << ": " << format_bytes(st.bytes_to_gpus) << " to GPUs ("
        << format_gb(static_cast<std::uint64_t>(static_cast<double>(st.bytes_to_gpus) / seconds)) << " GB/s"
        << ")";
    if (st.bytes_from_registered_pages)
      out << ", " << format_bytes(st.bytes_from_registered_pages)
          << " of them straight from registered checkpoint pages";
    if (st.bytes_to_host) out << ", " << format_bytes(st.bytes_to_host) << " copied to pinned host memory";
    if (st.bytes_registered)
      out << ", " << format_bytes(st.bytes_registered) << " of the checkpoint registered for direct copies";
    if (st.bytes_left_mapped) out << ", " << format_bytes(st.bytes_left_mapped) << " streamed from the page cache";
    if (st.window_bytes) out << ", " << format_bytes(st.window_bytes) << " of streaming window";
    out << "\n";
  } else {
    out << "Could not load " << report.model << " on " << report.runtime << " devices\n";
  }
  out << "Allocator: " << report.allocator_settings << "\n";
  for (const auto& w : report.warnings) out << "warning: " << w << "\n";
  for (const auto& n : report.notes) out << "note: " << n << "\n";
  out << "\nAttempts (memory per GPU after each stage: ours in use, other processes, free)\n";
  for (std::size_t i = 0; i < report.attempts.size(); ++i) {
    const auto& a = report.attempts[i];
    out << "  " << i + 1 << ". " << a.strategy << ": " << a.outcome << "\n";
    for (const auto& s : a.stages) {
      out << "       " << s.stage << " " << format_seconds(s.seconds);
      for (std::size_t g = 0; g < s.after.size(); ++g)
        out << "  " << s.after[g].device.str() << ": ours " << format_gb(s.before[g].ours_in_use) << "→"
            << gb(s.after[g].ours_in_use) << ", others " << gb(s.after[g].others) << ", free " << gb(s.after[g].free);
      out << (s.outcome == "ok" ? "" : "\n         stopped: " + s.outcome) << "\n";
    }
    for (const auto& [device, bytes] : a.leaked_bytes)
      out << "       LEAKED " << format_bytes(bytes) << " on " << device.str() << "\n";
    if (a.outcome == "loaded" && a.prediction) {
      for (const auto& [device, measured] : a.measured_bytes) {
        const auto* p = a.prediction->find(device);
        if (!p) continue;
        const std::uint64_t weights = p->resident_bytes + p->window_bytes;
        char error[32];
        std::snprintf(error, sizeof error, "%+.2f%%", percent_error(weights, measured));
        out << "       " << device.str() << ": weights + window predicted " << format_bytes(weights) << ", measured "
            << format_bytes(measured) << " (" << error << "); predicted peak with context and activations "
            << format_bytes(p->peak_bytes) << "\n";
        if (const auto it = a.measured_process_bytes.find(device); it != a.measured_process_bytes.end())
          out << "       " << device.str() << ": this process holds " << format_bytes(it->second)
              << (report.runtime == "simulated" ? " (simulated: context assumed)" : " (as nvidia-smi shows it)")
              << ", predicted " << format_bytes(p->context_bytes + weights) << " with the context\n";
      }
    }
  }
  if (!report.other_processes.empty()) {
    out << "\nOther processes holding GPU memory\n";
    for (const auto& [device, processes] : report.other_processes)
      for (const auto& p : processes)
        out << "  " << device.str() << "  pid " << p.pid << "  " << p.name << (p.user.empty() ? "" : "  user " + p.user)
            << "  " << format_bytes(p.bytes) << "\n";
  }
  if (report.verified_tensors)
    out << "\nVerified " << text::thousands(report.verified_tensors) << " tensors (device, block, dtype, shape"
        << (report.data_verified ? ", bytes" : "") << ")\n";
  // What ran comes before the unload that followed it.
  if (what_ran) what_ran(out);
  for (std::size_t g = 0; g < report.after_unload.size(); ++g)
    out << "After unload: " << report.after_unload[g].device.str() << " ours in use "
        << format_bytes(report.after_unload[g].ours_in_use) << ", cached "
        << format_bytes(report.after_unload[g].ours_cached) << ", free " << format_bytes(report.after_unload[g].free)
        << " (before loading: " << format_bytes(report.baseline[g].free) << ")\n";
  if (!report.advice.empty()) {
    out << "\nWhat to do:\n";
    for (const auto& a : report.advice) out << "  - " << a << "\n";
  }
}

}  // namespace vramguard
