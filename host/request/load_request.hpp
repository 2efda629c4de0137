#pragma once
// What a user asks of a load, typed: the model and how to read it, the strategy and its fallback
// ladder, the budget, the workload, how weights travel, the devices (real or simulated, with faults)
// and where plugins come from. Each edge builds one — the CLI from its command line, VRAMGUARD_*
// variables and config file (request/cli_options.hpp), the runtime API (and so Python) from
// runtime::Options — with every check and error there; everything below takes these typed values.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "budget/budget_options.hpp"
#include "core/environment.hpp"
#include "devices/simulated_runtime.hpp"
#include "load/loaded_model.hpp"
#include "model/model_inspector.hpp"
#include "vramguard/cost_model.hpp"
#include "vramguard/strategy.hpp"
#include "vramguard/strategy_options.hpp"

namespace vramguard {

// Declared GPUs instead of real ones, and what goes wrong on them (tests, doctor's what-ifs).
struct SimulatedDevices {
  std::string spec;  // "rtx4080", "cuda:16GiB@25GB/s,cuda:16GiB"
  SimulatedFaults faults;
  std::optional<std::uint64_t> memlock_bytes;  // the memlock limit doctor reports in place of this process's
};

struct PluginSearch {
  std::vector<std::string> dirs;         // --plugin-dir, first
  std::optional<std::string> env_path;   // VRAMGUARD_PLUGIN_PATH
  std::vector<std::string> config_dirs;  // the config file's plugin_dirs, resolved beside it
  bool allow_insecure = false;
  bool allow_duplicates = false;
};

// --option KEY=VALUE (for the first strategy) or NAME.KEY=VALUE (for the strategy NAME).
struct StrategyOptionSetting {
  std::optional<std::string> strategy;
  std::string key, value;
};

struct LoadRequest {
  std::string model;        // a folder, a file, an index or org/name
  Environment environment;  // HF_HOME and the like, as the edge saw them
  InspectOptions inspect;   // dtype, unit rules, vocabulary slices, components

  std::string strategy = "auto";  // the first attempt
  bool strategy_given = false;    // said by the user, not the default
  std::vector<std::string> fallback = {"balanced", "auto", "sequential-offload"};
  std::size_t max_attempts = 4;

  BudgetOptions budget;
  std::optional<std::uint64_t> cpu_memory_bytes;  // the host's RAM as declared, not read
  Workload workload;                              // --job's passes per component in .components
  bool job_given = false;                         // --job described a whole job

  std::map<std::string, StrategyOptions> config_strategy_options;  // [strategy.NAME] sections
  std::vector<StrategyOptionSetting> option_settings;              // --option, over those

  std::optional<StreamSource> stream_source;  // unset: the cost model's choice
  UploadPath upload_path = UploadPath::staged;
  std::string cuda_alloc_conf = "expandable_segments:True";  // when PYTORCH_CUDA_ALLOC_CONF is unset
  std::optional<SimulatedDevices> simulate;
  Fp8Compute::Mode fp8_compute = Fp8Compute::Mode::off;  // --fp8-compute (off unless asked: it changes results)
  PluginSearch plugins;
  bool verify_data = false;

  // The options as the user wrote them ("max-memory" → "0=12GB"): what a config written for this
  // request (doctor and fix --write-config) repeats word for word.
  std::vector<std::pair<std::string, std::string>> as_given;
  std::optional<std::string> config_file;  // --config as given: advice that repeats a command repeats it too

  // The [strategy.NAME] section, then --option settings over it; bare KEY=VALUE settings apply to
  // `strategy` only when `bare_keys_apply` (they are meant for the first strategy).
  StrategyOptions strategy_options_for(const std::string& name, bool bare_keys_apply) const;
  // The workload plans are made for: `workload`, its Linears with fp8 weights multiplied in fp8 where
  // --fp8-compute allows it (the cost model's step then counts fp8 matmuls on GPUs that have them).
  Workload planned_workload() const;
};

}  // namespace vramguard
