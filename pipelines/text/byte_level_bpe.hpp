#pragma once
// A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (the `tokenizers` library's
// format), as Qwen2 and Qwen2.5-VL use it: added tokens matched first, NFC, the pre-tokenizer's split
// pattern, bytes mapped to printable characters (GPT-2's table), then the merges in rank order.
// Equal ids to transformers' fast tokenizer; no special tokens are added around the text.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vramguard::pipelines {

class ByteLevelBpe {
 public:
  // Throws InputError naming the file and what it cannot use (another model type, a normalizer or
  // pre-tokenizer this reader does not implement, a pattern PCRE2 rejects).
  static ByteLevelBpe from_file(const std::string& tokenizer_json_path);
  // A tokenizer folder: its tokenizer.json, or else Qwen2Tokenizer's vocab.json, merges.txt and
  // tokenizer_config.json's added tokens (the published Qwen-Image-Edit folder's files).
  static ByteLevelBpe from_folder(const std::string& folder);
  ~ByteLevelBpe();
  ByteLevelBpe(ByteLevelBpe&&) noexcept;
  ByteLevelBpe& operator=(ByteLevelBpe&&) noexcept;

  // The text's token ids. Text that is not valid UTF-8 is an InputError naming `what`.
  std::vector<std::int64_t> encode(std::string_view text, std::string_view what = "text") const;
  std::string decode(const std::vector<std::int64_t>& ids) const;
  // A token's id (added tokens included), when the vocabulary has it.
  std::optional<std::int64_t> id_of(std::string_view token) const;
  std::size_t vocabulary_size() const;
  // The fewest tokens a text of `text_bytes` bytes can become (no token stands for more bytes than the
  // longest): what refuses an overlong prompt before it is tokenized.
  std::size_t fewest_tokens(std::size_t text_bytes) const;

 private:
  struct Impl;
  explicit ByteLevelBpe(std::unique_ptr<Impl> impl);
  static ByteLevelBpe from_document(const nlohmann::json& doc, const std::string& file);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramguard::pipelines
