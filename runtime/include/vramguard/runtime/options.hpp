#pragma once
// How an application opens a model: the same settings, with the same meaning and checks, as the CLI's
// `vramguard load` options (`vramguard help load` documents each).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vramguard::runtime {

struct Options {
  std::string strategy;                   // the first strategy the guard tries; empty: the config's, else auto
  std::optional<std::string> fallback;    // "balanced,auto,sequential-offload" (the default)
  std::optional<std::string> config;      // an INI config file (configs/rtx4080-16gb.ini)
  std::optional<std::string> max_memory;  // "0=12GB,cpu=64GiB"
  std::optional<std::string> reserve;     // "4GB", or "0=4GB"
  std::optional<std::string> headroom;
  std::optional<std::string> adapter_memory;  // "600MB": a LoRA's weights on each GPU the model runs on
  std::optional<std::string> pinned_memory;
  std::optional<std::string> cpu_memory;  // declare the host's RAM (simulated runs)
  std::optional<std::string> dtype;       // "bf16", "fp16", "fp32", "fp64"
  std::optional<std::string> simulate;    // "rtx4080", "cuda:2GB,cuda:2GB": the CPU computes in the GPUs' place
  std::optional<std::string> unit_rules;
  std::optional<std::string> slice_vocabulary;          // "256MB"; "0": keep embeddings and heads whole
  std::map<std::string, std::string> strategy_options;  // for the first strategy: {"prefetch", "2"}
  std::uint64_t tokens = 0;  // per forward pass, for the budget's activation headroom (0: default)
  std::uint64_t batch = 1;
  std::optional<std::string> job;  // passes per component in one job: "text_encoder=2,transformer=16,vae=2"
  bool verify_data = false;
  // Any other `vramguard load` option, by name: {{"max-attempts", "2"}, {"simulate-oom-at-step", "1"}}
  // ('_' may stand for '-'); a name no option has is a UsageError naming it.
  std::vector<std::pair<std::string, std::string>> settings;
};

}  // namespace vramguard::runtime
