#pragma once
// What a byte-level BPE tokenizer (GPT-2's, Qwen2's) is built on: each byte's printable stand-in, so
// that a token is a string without spaces or control characters, and Qwen2's pre-tokenizer pattern.
// The edit's tokenizer reads text with them; `synth` writes a tokenizer from them.
#include <array>
#include <string>

namespace vramguard {

// GPT-2's table, UTF-8: printable Latin-1 bytes stand for themselves; the others take the code points
// 256, 257, ... in byte order.
const std::array<std::string, 256>& byte_level_symbols();

// Qwen2Tokenizer's split pattern (what its tokenizer.json's Split pre-tokenizer holds).
inline constexpr const char* kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace vramguard
