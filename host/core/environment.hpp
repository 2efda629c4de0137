#pragma once
// The process environment as a value: commands read HF_HOME and the like from it, and tests pass their own.
#include <map>
#include <string>

namespace vramguard {

using Environment = std::map<std::string, std::string>;
Environment process_environment();

}  // namespace vramguard
