#include "text/byte_level_bpe.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <filesystem>
#include <fstream>
#include <cstdlib>
#include <mutex>
#include <queue>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include "core/byte_level.hpp"
#include "core/errors.hpp"
#include "core/path_exists.hpp"
#include "model/json_file.hpp"

namespace vramguard::pipelines {
namespace {

// Each byte's stand-in (GPT-2's table), and back.
struct ByteTable {
  const std::array<std::string, 256>& to_text = byte_level_symbols();
  std::unordered_map<std::string, unsigned char> to_byte;
  ByteTable() {
    for (unsigned b = 0; b < 256; ++b) to_byte[to_text[b]] = static_cast<unsigned char>(b);
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

// The UTF-8 characters of a string (it is valid: checked before).
std::vector<std::string> characters(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    out.emplace_back(s.substr(i, length));
    i += length;
  }
  return out;
}

struct AddedToken {
  std::string content;
  std::int64_t id = 0;
  bool normalized = false, lstrip = false, rstrip = false, single_word = false;
};

struct PcreCode {
  pcre2_code* code = nullptr;
  ~PcreCode() { pcre2_code_free(code); }
};

}  // namespace

struct ByteLevelBpe::Impl {
  std::string file;
  std::unordered_map<std::string, std::int64_t> vocabulary;
  std::unordered_map<std::int64_t, std::string> tokens;  // id -> token, added tokens included
  std::unordered_map<std::string, int> merge_rank;       // "left right" -> rank
  std::vector<AddedToken> added;                         // longest first
  bool nfc = false;
  bool ignore_merges = false;
  PcreCode split;
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int64_t>> cache;
  std::size_t longest_token_bytes = 1;  // of the text one token covers, added tokens included

  std::vector<std::string> merge_by_rank(std::vector<std::string> symbols) const;

  [[noreturn]] void fail(const std::string& problem, const std::string& hint = {}) const {
    throw InputError(file, problem,
                     hint.empty()
                         ? "vramguard reads Qwen2's byte-level BPE tokenizer.json as the tokenizers library saves it"
                         : hint);
  }

  std::vector<std::int64_t> bpe(const std::string& piece) const;
  void encode_plain(std::string_view text, std::vector<std::int64_t>& out) const;
  void encode_normalized(std::string_view text, std::vector<std::int64_t>& out) const;
};

namespace {

// Where the next added token (of those `wanted`) starts at or after `from`: leftmost, and the
// longest there, as the tokenizers library matches them.
struct Match {
  std::size_t begin = std::string::npos, end = 0;
  const AddedToken* token = nullptr;
};

bool word_character(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (static_cast<unsigned char>(c) & 0x80);
}

Match next_added(const std::vector<AddedToken>& added, bool normalized, std::string_view text, std::size_t from) {
  Match best;
  for (const auto& token : added) {
    if (token.normalized != normalized || token.content.empty()) continue;
    for (std::size_t at = text.find(token.content, from); at != std::string_view::npos && at < best.begin;
         at = text.find(token.content, at + 1)) {
      const std::size_t end = at + token.content.size();
      if (token.single_word &&
          ((at > 0 && word_character(text[at - 1])) || (end < text.size() && word_character(text[end]))))
        continue;
      if (at < best.begin || (at == best.begin && end > best.end)) best = {at, end, &token};
      break;
    }
  }
  if (best.token == nullptr) return best;
  // lstrip / rstrip: the token takes the whitespace beside it.
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  if (best.token->lstrip)
    while (best.begin > from && space(text[best.begin - 1])) --best.begin;
  if (best.token->rstrip)
    while (best.end < text.size() && space(text[best.end])) ++best.end;
  return best;
}

}  // namespace

// The lowest-ranked adjacent pair merges first, the leftmost among equals, until no pair is ranked: as
// the tokenizers library does it, with a heap of candidate pairs checked when they come up (a merge
// makes its neighbours' pairs stale). O(n log n) in the piece's length: merging every occurrence of the
// best pair in rounds was O(n x merges), 67 s for one 100 KB word.
std::vector<std::string> ByteLevelBpe::Impl::merge_by_rank(std::vector<std::string> symbols) const {
  const std::size_t n = symbols.size();
  if (n < 2) return symbols;
  std::vector<std::size_t> next(n), prev(n);
  std::vector<bool> alive(n, true);
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = i + 1;  // n: none
    prev[i] = i == 0 ? n : i - 1;
  }
  struct Candidate {
    int rank;
    std::size_t left;
    std::string right_symbol;  // what the pair was made with: stale once either side changed
    std::string left_symbol;
    bool operator>(const Candidate& other) const { return rank != other.rank ? rank > other.rank : left > other.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto consider = [&](std::size_t left) {
    if (left >= n || next[left] >= n) return;
    const std::size_t right = next[left];
    if (const auto it = merge_rank.find(symbols[left] + ' ' + symbols[right]); it != merge_rank.end())
      heap.push({it->second, left, symbols[right], symbols[left]});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    const std::size_t left = top.left, right = next[left];
    if (!alive[left] || right >= n || symbols[left] != top.left_symbol || symbols[right] != top.right_symbol) continue;
    symbols[left] += symbols[right];
    alive[right] = false;
    next[left] = next[right];
    if (next[right] < n) prev[next[right]] = left;
    if (prev[left] < n) consider(prev[left]);
    consider(left);
  }
  std::vector<std::string> merged;
  for (std::size_t i = 0; i < n; i = next[i]) merged.push_back(std::move(symbols[i]));
  return merged;
}

std::vector<std::int64_t> ByteLevelBpe::Impl::bpe(const std::string& piece) const {
  {
    std::lock_guard lock(cache_mutex);
    if (const auto it = cache.find(piece); it != cache.end()) return it->second;
  }
  std::vector<std::string> symbols;
  if (ignore_merges && vocabulary.count(piece)) {
    symbols.push_back(piece);
  } else {
    symbols = merge_by_rank(characters(piece));
  }
  std::vector<std::int64_t> ids;
  for (const auto& symbol : symbols) {
    const auto it = vocabulary.find(symbol);
    if (it == vocabulary.end())
      fail("its vocabulary has no token for '" + symbol + "', and the model has no unknown token");
    ids.push_back(it->second);
  }
  std::lock_guard lock(cache_mutex);
  if (cache.size() < 100'000) cache.emplace(piece, ids);
  return ids;
}

// Text between added tokens, normalized: split by the pre-tokenizer's pattern (every match, and what
// lies between matches, is a piece), each piece's bytes mapped to characters, then BPE.
void ByteLevelBpe::Impl::encode_plain(std::string_view text, std::vector<std::int64_t>& out) const {
  if (text.empty()) return;
  const ByteTable& table = byte_table();
  auto emit = [&](std::string_view piece) {
    if (piece.empty()) return;
    std::string mapped;
    for (const char c : piece) mapped += table.to_text[static_cast<unsigned char>(c)];
    const auto ids = bpe(mapped);
    out.insert(out.end(), ids.begin(), ids.end());
  };
  if (split.code == nullptr) {
    emit(text);
    return;
  }
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(split.code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t position = 0;
  while (position < text.size()) {
    const int rc = pcre2_match(split.code, subject, text.size(), position, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      fail("its pre-tokenizer pattern failed to match (PCRE2 error " + std::to_string(rc) + ")");
    }
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(data);
    std::size_t begin = span[0], end = span[1];
    emit(text.substr(position, begin - position));  // what lies between matches is a piece too
    if (end == begin) {                             // an empty match: step over one character
      const auto lead = static_cast<unsigned char>(text[begin]);
      end = begin + (lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4);
    }
    emit(text.substr(begin, end - begin));
    position = end;
  }
  emit(text.substr(std::min(position, text.size())));
  pcre2_match_data_free(data);
}

// Normalized text: its own added tokens (those matched after normalization) split it first.
void ByteLevelBpe::Impl::encode_normalized(std::string_view text, std::vector<std::int64_t>& out) const {
  std::size_t position = 0;
  while (position < text.size()) {
    const Match m = next_added(added, true, text, position);
    if (m.token == nullptr) break;
    encode_plain(text.substr(position, m.begin - position), out);
    out.push_back(m.token->id);
    position = m.end;
  }
  encode_plain(text.substr(std::min(position, text.size())), out);
}

ByteLevelBpe::ByteLevelBpe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ByteLevelBpe::~ByteLevelBpe() = default;
ByteLevelBpe::ByteLevelBpe(ByteLevelBpe&&) noexcept = default;
ByteLevelBpe& ByteLevelBpe::operator=(ByteLevelBpe&&) noexcept = default;

ByteLevelBpe ByteLevelBpe::from_file(const std::string& tokenizer_json_path) {
  return from_document(read_json_file(tokenizer_json_path), tokenizer_json_path);
}

ByteLevelBpe ByteLevelBpe::from_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  if (path_exists(dir / "tokenizer.json")) return from_file((dir / "tokenizer.json").string());
  // Qwen2Tokenizer's own files, as the published Qwen-Image-Edit folder holds them: the same model as
  // its tokenizer.json would describe (NFC, Qwen2's split pattern, byte-level BPE), built from them.
  const fs::path vocab_file = dir / "vocab.json", merges_file = dir / "merges.txt";
  if (!path_exists(vocab_file) || !path_exists(merges_file))
    throw InputError(folder, "holds neither tokenizer.json nor vocab.json and merges.txt",
                     "pass the Qwen-Image-Edit folder as diffusers saves it (its tokenizer/ folder)");
  nlohmann::json doc;
  doc["model"] = {{"type", "BPE"}, {"vocab", read_json_file(vocab_file)}, {"merges", nlohmann::json::array()}};
  std::ifstream merges(merges_file);
  for (std::string line; std::getline(merges, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    doc["model"]["merges"].push_back(line);
  }
  doc["normalizer"] = {{"type", "NFC"}};
  doc["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", kQwen2SplitPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  doc["added_tokens"] = nlohmann::json::array();
  if (path_exists(dir / "tokenizer_config.json")) {
    const nlohmann::json config = read_json_file(dir / "tokenizer_config.json");
    if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object())
      for (const auto& [id, token] : config["added_tokens_decoder"].items()) {
        nlohmann::json added = token;
        try {
          added["id"] = std::stoll(id);
        } catch (const std::exception&) {
          throw InputError((dir / "tokenizer_config.json").string(),
                           "added_tokens_decoder has the id '" + id + "', which is not a number");
        }
        doc["added_tokens"].push_back(added);
      }
  }
  return from_document(doc, vocab_file.string());
}

ByteLevelBpe ByteLevelBpe::from_document(const nlohmann::json& doc, const std::string& file) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object()) impl->fail("has no \"model\" object");
  const nlohmann::json& model = doc["model"];
  if (model.value("type", std::string()) != "BPE")
    impl->fail("its model is '" + model.value("type", std::string("(none)")) + "', not a byte-level BPE");
  if (!model.contains("vocab") || !model["vocab"].is_object()) impl->fail("its model has no \"vocab\" object");
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) impl->fail("vocab entry '" + token + "' is not an integer id");
    impl->vocabulary[token] = id.get<std::int64_t>();
    impl->tokens[id.get<std::int64_t>()] = token;
  }
  // Merges: ["left", "right"] pairs (tokenizers ≥ 0.20) or "left right" strings (older files).
  if (model.contains("merges")) {
    if (!model["merges"].is_array()) impl->fail("its \"merges\" is not a list");
    int rank = 0;
    for (const auto& merge : model["merges"]) {
      std::string key;
      if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string())
        key = merge[0].get<std::string>() + ' ' + merge[1].get<std::string>();
      else if (merge.is_string() && merge.get<std::string>().find(' ') != std::string::npos)
        key = merge.get<std::string>();
      else impl->fail("merge " + std::to_string(rank) + " is neither a pair of strings nor \"left right\"");
      impl->merge_rank.emplace(std::move(key), rank++);
    }
  }
  impl->ignore_merges = model.value("ignore_merges", false);
  if (model.contains("byte_fallback") && model["byte_fallback"].is_boolean() && model["byte_fallback"].get<bool>())
    impl->fail("uses byte fallback (a SentencePiece-style BPE), which this byte-level reader does not implement");

  if (doc.contains("added_tokens") && doc["added_tokens"].is_array())
    for (const auto& a : doc["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id") ||
          !a["id"].is_number_integer())
        impl->fail("an entry of \"added_tokens\" lacks its content or id");
      AddedToken token{a["content"].get<std::string>(), a["id"].get<std::int64_t>(), a.value("normalized", false),
                       a.value("lstrip", false),        a.value("rstrip", false),    a.value("single_word", false)};
      impl->tokens[token.id] = token.content;
      impl->added.push_back(std::move(token));
    }
  std::stable_sort(impl->added.begin(), impl->added.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });

  // The normalizer: none, or NFC (alone or as the only step of a sequence).
  if (doc.contains("normalizer") && !doc["normalizer"].is_null()) {
    const nlohmann::json& n = doc["normalizer"];
    const std::string type = n.value("type", std::string());
    const bool nfc_sequence = type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array() &&
                              n["normalizers"].size() == 1 && n["normalizers"][0].value("type", std::string()) == "NFC";
    if (type != "NFC" && !nfc_sequence)
      impl->fail("its normalizer '" + type + "' is not one this reader implements (NFC)");
    impl->nfc = true;
  }

  // The pre-tokenizer: a Split by a pattern, isolating its matches, then ByteLevel without its own
  // pattern (Qwen2's); or ByteLevel alone without a pattern (the text is one piece).
  if (!doc.contains("pre_tokenizer") || !doc["pre_tokenizer"].is_object()) impl->fail("has no pre_tokenizer");
  const nlohmann::json& pre = doc["pre_tokenizer"];
  std::vector<nlohmann::json> steps;
  if (pre.value("type", std::string()) == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array())
    for (const auto& step : pre["pretokenizers"]) steps.push_back(step);
  else steps.push_back(pre);
  bool byte_level = false;
  std::string pattern;
  for (const auto& step : steps) {
    const std::string type = step.value("type", std::string());
    if (type == "Split" && !byte_level && pattern.empty()) {
      if (!step.contains("pattern") || !step["pattern"].is_object() || !step["pattern"].contains("Regex") ||
          !step["pattern"]["Regex"].is_string())
        impl->fail("its Split pre-tokenizer has no Regex pattern");
      if (step.value("behavior", std::string()) != "Isolated" || step.value("invert", false))
        impl->fail("its Split pre-tokenizer is not 'Isolated' (the only behaviour this reader implements)");
      pattern = step["pattern"]["Regex"].get<std::string>();
    } else if (type == "ByteLevel" && !byte_level) {
      if (step.value("add_prefix_space", false))
        impl->fail("its ByteLevel pre-tokenizer adds a prefix space, which this reader does not implement");
      if (step.value("use_regex", true) && pattern.empty())
        impl->fail("its ByteLevel pre-tokenizer splits by GPT-2's own pattern, which this reader does not implement");
      byte_level = true;
    } else {
      impl->fail("its pre-tokenizer step '" + type + "' is not one this reader implements (Split, then ByteLevel)");
    }
  }
  if (!byte_level) impl->fail("its pre-tokenizer has no ByteLevel step: not a byte-level BPE");
  if (!pattern.empty()) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    impl->split.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (impl->split.code == nullptr) {
      std::array<PCRE2_UCHAR, 256> message{};
      pcre2_get_error_message(error, message.data(), message.size());
      impl->fail("its pre-tokenizer pattern does not compile at offset " + std::to_string(offset) + ": " +
                 reinterpret_cast<const char*>(message.data()));
    }
    pcre2_jit_compile(impl->split.code, PCRE2_JIT_COMPLETE);  // faster when available; matching works without
  }
  // A vocabulary token stands for one byte per character (the byte table); an added token for its text.
  for (const auto& [token, id] : impl->vocabulary) {
    std::size_t characters = 0;
    for (const char c : token) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    impl->longest_token_bytes = std::max(impl->longest_token_bytes, characters);
  }
  for (const auto& token : impl->added)
    impl->longest_token_bytes = std::max(impl->longest_token_bytes, token.content.size());
  return ByteLevelBpe(std::move(impl));
}

std::vector<std::int64_t> ByteLevelBpe::encode(std::string_view text, std::string_view what) const {
  if (utf8proc_decompose(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                         static_cast<utf8proc_ssize_t>(text.size()), nullptr, 0, UTF8PROC_STABLE) < 0)
    throw UsageError(std::string(what) + " is not valid UTF-8", "pass the text encoded as UTF-8");
  std::vector<std::int64_t> out;
  auto normalized_part = [&](std::string_view part) {
    if (!impl_->nfc || part.empty()) return impl_->encode_normalized(part, out);
    utf8proc_uint8_t* nfc = nullptr;
    const utf8proc_ssize_t length =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(part.data()), static_cast<utf8proc_ssize_t>(part.size()),
                     &nfc, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (length < 0) throw UsageError(std::string(what) + " could not be normalized (NFC): " + utf8proc_errmsg(length));
    const std::string normalized(reinterpret_cast<const char*>(nfc), static_cast<std::size_t>(length));
    std::free(nfc);
    impl_->encode_normalized(normalized, out);
  };
  // Added tokens that are matched before normalization (the special ones) split the raw text first.
  std::size_t position = 0;
  while (position < text.size()) {
    const Match m = next_added(impl_->added, false, text, position);
    if (m.token == nullptr) break;
    normalized_part(text.substr(position, m.begin - position));
    out.push_back(m.token->id);
    position = m.end;
  }
  normalized_part(text.substr(std::min(position, text.size())));
  return out;
}

std::string ByteLevelBpe::decode(const std::vector<std::int64_t>& ids) const {
  const ByteTable& table = byte_table();
  std::string out;
  for (const auto id : ids) {
    const auto it = impl_->tokens.find(id);
    if (it == impl_->tokens.end()) continue;
    const bool added =
        std::any_of(impl_->added.begin(), impl_->added.end(), [&](const AddedToken& a) { return a.id == id; });
    if (added) {
      out += it->second;
      continue;
    }
    for (const auto& character : characters(it->second)) {
      const auto byte = table.to_byte.find(character);
      if (byte != table.to_byte.end()) out += static_cast<char>(byte->second);
    }
  }
  return out;
}

std::optional<std::int64_t> ByteLevelBpe::id_of(std::string_view token) const {
  for (const auto& a : impl_->added)
    if (a.content == token) return a.id;
  const auto it = impl_->vocabulary.find(std::string(token));
  if (it == impl_->vocabulary.end()) return std::nullopt;
  return it->second;
}

std::size_t ByteLevelBpe::vocabulary_size() const { return impl_->tokens.size(); }

std::size_t ByteLevelBpe::fewest_tokens(std::size_t text_bytes) const {
  return (text_bytes + impl_->longest_token_bytes - 1) / impl_->longest_token_bytes;
}

}  // namespace vramguard::pipelines
