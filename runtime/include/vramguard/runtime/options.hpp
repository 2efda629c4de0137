#pragma once
// How an application opens a model: every option of a load as a typed field (vramguard/load_options.def
// declares them, with the CLI's names and meanings; `vramguard help load` documents each). Sizes are
// ByteSize, caps DeviceSizes, --reserve SizeForDevices and --dtype LoadDType; each also takes the text
// the CLI takes (options.max_memory = "0=12GB") and refuses a bad one where it is assigned.
#include <string>
#include <utility>
#include <vector>

#include "vramguard/load_options.hpp"

namespace vramguard::runtime {

struct Options : LoadOptions {
  std::string strategy;  // the first strategy the guard tries; empty: the config's, else auto
  // Options by their CLI name, read after the typed fields: {{"max-attempts", "2"}} ('_' may stand for
  // '-'); a name no option has is a UsageError naming it.
  std::vector<std::pair<std::string, std::string>> settings;
};

}  // namespace vramguard::runtime
