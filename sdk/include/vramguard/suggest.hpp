#pragma once
// "Did you mean": the known word nearest to a typo, for messages about names (options, strategies).
#include <string>
#include <string_view>
#include <vector>

namespace vramguard {

std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate nearest to `word` when it is close enough to be a likely typo; empty otherwise.
std::string nearest_word(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace vramguard
