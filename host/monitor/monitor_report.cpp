#include "monitor/monitor_report.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "vramguard/byte_size.hpp"

namespace vramguard {
namespace {

nlohmann::json process_json(const GpuProcess& p) {
  return {{"pid", p.pid}, {"name", p.name}, {"user", p.user}, {"command", p.command}, {"bytes", p.bytes}};
}

nlohmann::json reading_json(const GpuReading& r) {
  nlohmann::json processes = nlohmann::json::array();
  for (const auto& p : r.processes) processes.push_back(process_json(p));
  return {{"index", r.index},
          {"name", r.name},
          {"total_bytes", r.total_bytes},
          {"used_bytes", r.used_bytes},
          {"free_bytes", r.free_bytes},
          {"processes", processes}};
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

nlohmann::json sample_json(const Sample& sample) {
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& r : sample.gpus) gpus.push_back(reading_json(r));
  return {{"type", "sample"}, {"time", sample.time}, {"gpus", gpus}};
}

nlohmann::json state_json(const MonitorState& state) {
  nlohmann::json doc{{"source", state.source},
                     {"interval_seconds", state.interval_seconds},
                     {"threshold", state.threshold.text()},
                     {"samples", state.samples}};
  doc["gpus"] = nlohmann::json::array();
  if (!state.history.empty()) {
    for (const auto& r : state.history.back().gpus) {
      nlohmann::json gpu = reading_json(r);
      gpu["threshold_bytes"] = state.threshold.bytes_for(r.total_bytes);
      gpu["alert_active"] = state.active.count(r.index) ? state.active.at(r.index) : false;
      gpu["alerts_fired"] = state.fired.count(r.index) ? state.fired.at(r.index) : 0;
      nlohmann::json history = nlohmann::json::array();
      for (const auto& s : state.history)
        for (const auto& past : s.gpus)
          if (past.index == r.index) history.push_back({s.time, past.used_bytes});
      gpu["history"] = history;
      doc["gpus"].push_back(gpu);
    }
  }
  doc["alerts"] = nlohmann::json::array();
  for (const auto& a : state.alerts) doc["alerts"].push_back(alert_json(a));
  return doc;
}

std::string prometheus_text(const MonitorState& state, const std::vector<nlohmann::json>& metrics_log) {
  std::ostringstream out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  const std::vector<GpuReading> gpus = state.history.empty() ? std::vector<GpuReading>{} : state.history.back().gpus;
  family("vramguard_gpu_memory_total_bytes", "gauge", "The GPU's memory.");
  for (const auto& r : gpus)
    out << "vramguard_gpu_memory_total_bytes{gpu=\"" << r.index << "\",name=\"" << label(r.name) << "\"} "
        << r.total_bytes << "\n";
  family("vramguard_gpu_memory_used_bytes", "gauge", "Memory in use on the GPU, by every process.");
  for (const auto& r : gpus)
    out << "vramguard_gpu_memory_used_bytes{gpu=\"" << r.index << "\"} " << r.used_bytes << "\n";
  family("vramguard_gpu_memory_free_bytes", "gauge", "Free memory on the GPU.");
  for (const auto& r : gpus)
    out << "vramguard_gpu_memory_free_bytes{gpu=\"" << r.index << "\"} " << r.free_bytes << "\n";
  family("vramguard_gpu_process_memory_bytes", "gauge", "Memory a process holds on the GPU.");
  for (const auto& r : gpus)
    for (const auto& p : r.processes)
      out << "vramguard_gpu_process_memory_bytes{gpu=\"" << r.index << "\",pid=\"" << p.pid << "\",name=\""
          << label(p.name) << "\",user=\"" << label(p.user) << "\"} " << p.bytes << "\n";
  family("vramguard_alert_threshold_bytes", "gauge", "Used memory above which a GPU alerts.");
  for (const auto& r : gpus)
    out << "vramguard_alert_threshold_bytes{gpu=\"" << r.index << "\"} " << state.threshold.bytes_for(r.total_bytes)
        << "\n";
  family("vramguard_alert_active", "gauge", "1 while the GPU's used memory is above the threshold.");
  for (const auto& r : gpus)
    out << "vramguard_alert_active{gpu=\"" << r.index << "\"} "
        << (state.active.count(r.index) && state.active.at(r.index) ? 1 : 0) << "\n";
  family("vramguard_alerts_fired_total", "counter", "Times the GPU's used memory crossed the threshold upward.");
  for (const auto& r : gpus)
    out << "vramguard_alerts_fired_total{gpu=\"" << r.index << "\"} "
        << (state.fired.count(r.index) ? state.fired.at(r.index) : 0) << "\n";
  family("vramguard_monitor_samples_total", "counter", "Samples taken by this monitor.");
  out << "vramguard_monitor_samples_total " << state.samples << "\n";

  // Loads and runs recorded by vramguard on this machine (the metrics log). A record whose fields are
  // not of the types vramguard writes (a hand-edited or damaged line) is skipped and counted: one bad
  // line must not take the endpoint down.
  std::map<std::string, std::uint64_t> counts;
  std::map<std::string, std::pair<double, std::uint64_t>> load_sums;   // by strategy
  std::map<std::pair<std::string, std::string>, nlohmann::json> last;  // by (model, strategy)
  std::uint64_t skipped = 0;
  auto field_is = [](const nlohmann::json& r, const char* key, bool (nlohmann::json::*is)() const noexcept) {
    const auto it = r.find(key);
    return it == r.end() || ((*it).*is)();
  };
  for (const auto& r : metrics_log) {
    const bool well_formed =
        r.is_object() && field_is(r, "kind", &nlohmann::json::is_string) &&
        field_is(r, "strategy", &nlohmann::json::is_string) && field_is(r, "model", &nlohmann::json::is_string) &&
        field_is(r, "success", &nlohmann::json::is_boolean) &&
        field_is(r, "load_seconds", &nlohmann::json::is_number) &&
        field_is(r, "median_step_seconds", &nlohmann::json::is_number) &&
        field_is(r, "peak_bytes", &nlohmann::json::is_object) &&
        (!r.contains("peak_bytes") ||
         std::all_of(r["peak_bytes"].begin(), r["peak_bytes"].end(),
                     [](const nlohmann::json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0; }));
    if (!well_formed) {
      ++skipped;
      continue;
    }
    const std::string kind = r.value("kind", "load"), strategy = r.value("strategy", ""), model = r.value("model", "");
    const bool success = r.value("success", false);
    ++counts[kind + "|" + (success ? "true" : "false")];
    if (success && r.contains("load_seconds")) {
      auto& sum = load_sums[strategy];
      sum.first += r["load_seconds"].get<double>();
      ++sum.second;
      last[{model, strategy}] = r;
    }
  }
  family("vramguard_metrics_log_skipped_records_total", "counter", "Records of the metrics log skipped as malformed.");
  out << "vramguard_metrics_log_skipped_records_total " << skipped << "\n";
  family("vramguard_loads_total", "counter", "Loads and runs vramguard recorded on this machine, by outcome.");
  for (const auto& [key, count] : counts) {
    const auto bar = key.rfind('|');
    out << "vramguard_loads_total{kind=\"" << label(key.substr(0, bar)) << "\",success=\"" << key.substr(bar + 1)
        << "\"} " << count << "\n";
  }
  family("vramguard_load_seconds", "summary",
         "Seconds from the start of a load until the model was ready, by strategy.");
  for (const auto& [strategy, sum] : load_sums) {
    out << "vramguard_load_seconds_sum{strategy=\"" << label(strategy) << "\"} " << number(sum.first) << "\n";
    out << "vramguard_load_seconds_count{strategy=\"" << label(strategy) << "\"} " << sum.second << "\n";
  }
  family("vramguard_last_load_seconds", "gauge", "The latest successful load of each model and strategy.");
  for (const auto& [key, r] : last)
    out << "vramguard_last_load_seconds{model=\"" << label(key.first) << "\",strategy=\"" << label(key.second) << "\"} "
        << number(r["load_seconds"].get<double>()) << "\n";
  family("vramguard_last_step_seconds", "gauge", "The median step of the latest run of each model and strategy.");
  for (const auto& [key, r] : last)
    if (r.contains("median_step_seconds"))
      out << "vramguard_last_step_seconds{model=\"" << label(key.first) << "\",strategy=\"" << label(key.second)
          << "\"} " << number(r["median_step_seconds"].get<double>()) << "\n";
  family("vramguard_last_load_peak_bytes", "gauge",
         "What the latest load of each model and strategy held on each GPU.");
  for (const auto& [key, r] : last)
    if (r.contains("peak_bytes"))
      for (const auto& [device, bytes] : r["peak_bytes"].items())
        out << "vramguard_last_load_peak_bytes{model=\"" << label(key.first) << "\",strategy=\"" << label(key.second)
            << "\",device=\"" << label(device) << "\"} " << bytes.get<std::uint64_t>() << "\n";
  return out.str();
}

std::string terminal_view(const MonitorState& state, std::size_t width) {
  static const char* kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::ostringstream out;
  out << "vramguard monitor (" << state.source << ", every " << state.interval_seconds << " s, alert above "
      << state.threshold.text() << ")  Ctrl-C to stop\n\n";
  if (state.history.empty()) return out.str() + "waiting for the first sample...\n";
  const std::size_t bar_width = std::max<std::size_t>(10, std::min<std::size_t>(40, width > 60 ? width - 60 : 10));
  const std::size_t spark_width = std::max<std::size_t>(10, std::min<std::size_t>(60, width > 20 ? width - 20 : 10));
  for (const auto& r : state.history.back().gpus) {
    const double fraction = r.total_bytes ? static_cast<double>(r.used_bytes) / static_cast<double>(r.total_bytes) : 0;
    const auto filled = static_cast<std::size_t>(std::lround(fraction * static_cast<double>(bar_width)));
    const bool alert = state.active.count(r.index) && state.active.at(r.index);
    out << "cuda:" << r.index << "  " << r.name << (alert ? "   ALERT" : "") << "\n  [" << std::string(filled, '#')
        << std::string(bar_width - std::min(filled, bar_width), '.') << "] " << static_cast<int>(fraction * 100 + 0.5)
        << " %  used " << format_gb(r.used_bytes) << " GB, free " << format_gb(r.free_bytes) << " GB of "
        << format_gb(r.total_bytes) << " GB\n  ";
    std::vector<double> history;
    for (const auto& s : state.history)
      for (const auto& past : s.gpus)
        if (past.index == r.index && past.total_bytes)
          history.push_back(static_cast<double>(past.used_bytes) / static_cast<double>(past.total_bytes));
    const std::size_t from = history.size() > spark_width ? history.size() - spark_width : 0;
    for (std::size_t i = from; i < history.size(); ++i)
      out << kBlocks[std::min<std::size_t>(7, static_cast<std::size_t>(history[i] * 8))];
    out << "\n";
    for (const auto& p : r.processes)
      out << "    " << (p.pid ? std::to_string(p.pid) : std::string("-")) << "  " << p.name
          << (p.user.empty() ? "" : " (" + p.user + ")") << "  " << format_bytes(p.bytes) << "\n";
    out << "\n";
  }
  if (!state.alerts.empty()) {
    out << "Alerts:\n";
    const std::size_t from = state.alerts.size() > 5 ? state.alerts.size() - 5 : 0;
    for (std::size_t i = from; i < state.alerts.size(); ++i) {
      const auto& a = state.alerts[i];
      out << "  cuda:" << a.gpu << " " << (a.above ? "above" : "back below") << " " << format_bytes(a.threshold_bytes)
          << ": " << format_bytes(a.used_bytes) << " used\n";
    }
  }
  return out.str();
}

}  // namespace vramguard
