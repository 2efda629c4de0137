#pragma once
// A strategy's options: the `[strategy.NAME]` section of a config file (and --option key=value on
// the command line), as strings. The helpers convert and refuse bad values with the option's name.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vramguard {

using StrategyOptions = std::map<std::string, std::string>;

// One option a strategy reads from its [strategy.NAME] config section or --option KEY=VALUE: what
// `vramguard plugins` and `vramguard help plan` list. A strategy declares its options with a static
// member function `static std::vector<StrategyOptionInfo> options();` (none: it takes no options).
struct StrategyOptionInfo {
  std::string key;          // "prefetch"
  std::string values;       // what it accepts: "0-16", "true|false", "a GPU index"
  std::string description;  // one line: what it does, and its default
};

// A strategy option the strategy cannot use: an unknown key, or a value it cannot read.
class InvalidStrategyOption : public std::invalid_argument {
 public:
  // "invalid value 'abc' for option 'prefetch': expected an integer from 0 to 16"
  InvalidStrategyOption(std::string option, const std::string& value, const std::string& expected);
  // "unknown option 'prefech' for strategy 'sequential-offload' (did you mean 'prefetch'?); it knows: ..."
  static InvalidStrategyOption unknown(const std::string& option, const std::string& strategy,
                                       const std::vector<std::string>& known);
  const std::string& option() const noexcept { return option_; }

 private:
  struct Message {};
  InvalidStrategyOption(Message, std::string option, const std::string& message);
  std::string option_;
};

long long option_integer(const StrategyOptions& options, const std::string& key, long long fallback,
                         long long min_value, long long max_value);
// Any non-empty text; `fallback` when the option is absent.
std::string option_string(const StrategyOptions& options, const std::string& key, const std::string& fallback);
bool option_bool(const StrategyOptions& options, const std::string& key, bool fallback);
std::string option_choice(const StrategyOptions& options, const std::string& key, const std::string& fallback,
                          const std::vector<std::string>& choices);
// "3,1" → {3, 1}; positive numbers.
std::optional<std::vector<double>> option_number_list(const StrategyOptions& options, const std::string& key);
// Refuses keys the strategy does not know, naming them and the known ones.
void require_known_options(const StrategyOptions& options, const std::vector<std::string>& known,
                           const std::string& strategy);

}  // namespace vramguard
