#include "serve/bearer_token.hpp"

#include <cctype>
#include <cstddef>

namespace vramguard {

bool bearer_token_matches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  // Every byte of the key is compared whatever the token holds; a token of another length differs too.
  unsigned difference = token.size() == key.size() ? 0U : 1U;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto given = i < token.size() ? static_cast<unsigned char>(token[i]) : 0U;
    difference |= given ^ static_cast<unsigned char>(key[i]);
  }
  return difference == 0 && !key.empty();
}

}  // namespace vramguard
