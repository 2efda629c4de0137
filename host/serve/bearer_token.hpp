#pragma once
// `Authorization: Bearer KEY` against the key `vramguard serve --api-key` was given, as OpenAI's clients
// send it. The key is compared in time that depends on its length only, not on where a guess first
// differs, so that a client cannot find it a character at a time by timing the answers.
#include <string_view>

namespace vramguard {

// Whether `authorization` (the header's value, as sent) is "Bearer " (any case) followed by `key`.
bool bearer_token_matches(std::string_view authorization, std::string_view key);

}  // namespace vramguard
