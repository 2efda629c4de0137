#pragma once
// Small text helpers shared by the CLI, config and reports.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vramguard::text {

// The candidate nearest to `word` when it is close enough to be a likely typo; empty otherwise.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);
// " (did you mean 'X'?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
std::vector<std::string> split(std::string_view text, char separator);
std::string join(const std::vector<std::string>& parts, std::string_view separator);
std::string_view trim(std::string_view text);
// 28849460275 → "28,849,460,275"
std::string thousands(std::uint64_t value);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);

}  // namespace vramguard::text
