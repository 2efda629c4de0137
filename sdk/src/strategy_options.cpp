#include "vramguard/strategy_options.hpp"

#include <cerrno>
#include <cstdlib>
#include <algorithm>

#include "vramguard/suggest.hpp"

namespace vramguard {

InvalidStrategyOption::InvalidStrategyOption(std::string option, const std::string& value, const std::string& expected)
    : std::invalid_argument("invalid value '" + value + "' for option '" + option + "': expected " + expected),
      option_(std::move(option)) {}

InvalidStrategyOption::InvalidStrategyOption(Message, std::string option, const std::string& message)
    : std::invalid_argument(message), option_(std::move(option)) {}

InvalidStrategyOption InvalidStrategyOption::unknown(const std::string& option, const std::string& strategy,
                                                     const std::vector<std::string>& known) {
  std::string message = "unknown option '" + option + "' for strategy '" + strategy + "'";
  if (const std::string near = nearest_word(option, known); !near.empty()) message += " (did you mean '" + near + "'?)";
  if (known.empty()) {
    message += "; it takes no options";
  } else {
    message += "; it knows:";
    for (const auto& k : known) message += " " + k;
  }
  return InvalidStrategyOption(Message{}, option, message);
}

long long option_integer(const StrategyOptions& options, const std::string& key, long long fallback,
                         long long min_value, long long max_value) {
  const auto it = options.find(key);
  if (it == options.end()) return fallback;
  const std::string expected = "an integer from " + std::to_string(min_value) + " to " + std::to_string(max_value);
  const char* begin = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(begin, &end, 10);
  if (it->second.empty() || *end != '\0' || errno == ERANGE || value < min_value || value > max_value)
    throw InvalidStrategyOption(key, it->second, expected);
  return value;
}

std::string option_string(const StrategyOptions& options, const std::string& key, const std::string& fallback) {
  const auto it = options.find(key);
  if (it == options.end()) return fallback;
  if (it->second.empty()) throw InvalidStrategyOption(key, it->second, "a non-empty value");
  return it->second;
}

bool option_bool(const StrategyOptions& options, const std::string& key, bool fallback) {
  const auto it = options.find(key);
  if (it == options.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw InvalidStrategyOption(key, v, "true or false");
}

std::string option_choice(const StrategyOptions& options, const std::string& key, const std::string& fallback,
                          const std::vector<std::string>& choices) {
  const auto it = options.find(key);
  if (it == options.end()) return fallback;
  for (const auto& choice : choices)
    if (choice == it->second) return choice;
  std::string expected = "one of";
  for (const auto& choice : choices) expected += " " + choice;
  throw InvalidStrategyOption(key, it->second, expected);
}

std::optional<std::vector<double>> option_number_list(const StrategyOptions& options, const std::string& key) {
  const auto it = options.find(key);
  if (it == options.end()) return std::nullopt;
  std::vector<double> values;
  const std::string& text = it->second;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const double value = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !(value > 0))
      throw InvalidStrategyOption(key, text, "a comma-separated list of positive numbers, e.g. 3,1");
    values.push_back(value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

void require_known_options(const StrategyOptions& options, const std::vector<std::string>& known,
                           const std::string& strategy) {
  for (const auto& [key, value] : options)
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InvalidStrategyOption::unknown(key, strategy, known);
}

}  // namespace vramguard
