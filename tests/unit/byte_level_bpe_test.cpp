// The tokenizer gives transformers' ids for Qwen2's byte-level BPE (the fixture's texts and ids were
// made by transformers' fast tokenizer), and refuses tokenizer files it cannot reproduce, naming them.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "support/temp_dir.hpp"
#include "text/byte_level_bpe.hpp"

namespace vramguard::pipelines {
namespace {
using testing::TempDir;

const std::string kFixture = std::string(TEST_DATA_DIR) + "/fixtures/tokenizer_qwen2_tiny";

TEST(ByteLevelBpe, GivesTransformersIdsForEveryFixtureText) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/tokenizer.json");
  std::ifstream in(kFixture + "/expected.json");
  const auto cases = nlohmann::json::parse(in);
  ASSERT_GE(cases.size(), 9u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(tokenizer.encode(text), c["ids"].get<std::vector<std::int64_t>>()) << "text: " << text;
  }
}

TEST(ByteLevelBpe, DecodesBackToTheText) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/tokenizer.json");
  for (const std::string text : {"Hello, world! 123", "emoji 😀 and ümlauts", "<|im_start|>user\nhi<|im_end|>\n"})
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
}

TEST(ByteLevelBpe, NormalizesToNfcBeforeSplitting) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/tokenizer.json");
  // "ü" decomposed (u + combining diaeresis) tokenizes as the composed character does.
  EXPECT_EQ(tokenizer.encode("u\xCC\x88mlauts"), tokenizer.encode("\xC3\xBCmlauts"));
}

TEST(ByteLevelBpe, FindsSpecialTokensById) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/tokenizer.json");
  EXPECT_EQ(tokenizer.id_of("<|image_pad|>"), 5);
  EXPECT_EQ(tokenizer.id_of("no such token"), std::nullopt);
  EXPECT_EQ(tokenizer.vocabulary_size(), 503u);
}

TEST(ByteLevelBpe, RefusesTextThatIsNotUtf8) {
  const auto tokenizer = ByteLevelBpe::from_file(kFixture + "/tokenizer.json");
  try {
    tokenizer.encode("bad \xff byte", "--prompt");
    FAIL() << "invalid UTF-8 was tokenized";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--prompt is not valid UTF-8"), std::string::npos) << e.what();
  }
}

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = (dir.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(ByteLevelBpe, ReadsQwen2TokenizersOwnFilesAsItsTokenizerJson) {
  // The published Qwen-Image-Edit folder holds vocab.json, merges.txt and tokenizer_config.json: the
  // same tokenizer, written the older way. Made here from the fixture's tokenizer.json.
  TempDir dir;
  std::ifstream in(kFixture + "/tokenizer.json");
  const auto doc = nlohmann::json::parse(in);
  std::ofstream(dir.path() / "vocab.json") << doc["model"]["vocab"].dump();
  std::ofstream merges(dir.path() / "merges.txt");
  merges << "#version: 0.2\n";
  for (const auto& m : doc["model"]["merges"])
    merges << m[0].get<std::string>() << ' ' << m[1].get<std::string>() << "\n";
  merges.close();
  nlohmann::json config;
  for (const auto& a : doc["added_tokens"]) {
    nlohmann::json token = a;
    token.erase("id");
    config["added_tokens_decoder"][std::to_string(a["id"].get<int>())] = token;
  }
  std::ofstream(dir.path() / "tokenizer_config.json") << config.dump();
  const auto tokenizer = ByteLevelBpe::from_folder(dir.path().string());
  std::ifstream expected_in(kFixture + "/expected.json");
  for (const auto& c : nlohmann::json::parse(expected_in))
    EXPECT_EQ(tokenizer.encode(c["text"].get<std::string>()), c["ids"].get<std::vector<std::int64_t>>()) << c["text"];
  // A folder with neither is named.
  TempDir empty;
  EXPECT_THROW(ByteLevelBpe::from_folder(empty.path().string()), InputError);
}

TEST(ByteLevelBpe, RefusesTokenizerFilesItCannotReproduceNamingWhy) {
  TempDir dir;
  std::ifstream in(kFixture + "/tokenizer.json");
  const auto good = nlohmann::json::parse(in);
  auto expect_refused = [&](nlohmann::json doc, const std::string& why) {
    const std::string path = write(dir, "tokenizer.json", doc.dump());
    try {
      ByteLevelBpe::from_file(path);
      FAIL() << "accepted: " << why;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  auto unigram = good;
  unigram["model"]["type"] = "Unigram";
  expect_refused(unigram, "its model is 'Unigram', not a byte-level BPE");
  auto nfkc = good;
  nfkc["normalizer"] = {{"type", "NFKC"}};
  expect_refused(nfkc, "its normalizer 'NFKC'");
  auto bad_pattern = good;
  bad_pattern["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_refused(bad_pattern, "pattern does not compile");
  auto bad_merge = good;
  bad_merge["model"]["merges"][3] = 7;
  expect_refused(bad_merge, "merge 3 is neither");
  EXPECT_THROW(ByteLevelBpe::from_file(write(dir, "broken.json", "{not json")), InputError);
  EXPECT_THROW(ByteLevelBpe::from_file((dir.path() / "missing.json").string()), InputError);
}

TEST(ByteLevelBpe, MergesTheLowestRankedPairFirstAndTheLeftmostAmongEquals) {
  // GPT-2's rule, as the tokenizers library applies it; merging is O(n log n) in a word's length, so a
  // long word is no slower per character than a short one (it once was O(length x merges)).
  TempDir dir;
  std::ifstream in(kFixture + "/tokenizer.json");
  auto doc = nlohmann::json::parse(in);
  doc["model"]["vocab"] = {{"a", 0}, {"aa", 1}, {"aaa", 2}, {"aaaa", 3}};
  doc["model"]["merges"] = nlohmann::json::array({"a a", "aa a", "aa aa"});
  doc["added_tokens"] = nlohmann::json::array();
  const auto tokenizer = ByteLevelBpe::from_file(write(dir, "tokenizer.json", doc.dump()));
  // a a a a a: (a a) at 0 and 2 first, then (aa a) before (aa aa) by rank.
  EXPECT_EQ(tokenizer.encode("aaaaa"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(tokenizer.encode("aaa"), (std::vector<std::int64_t>{2}));
  // Two hundred thousand a: pairs into aa, then aa aa into aaaa, every occurrence left to right.
  EXPECT_EQ(tokenizer.encode(std::string(200'000, 'a')), std::vector<std::int64_t>(50'000, 3));
  // No token stands for more than 4 bytes here: 10 bytes are at least 3 tokens.
  EXPECT_EQ(tokenizer.fewest_tokens(10), 3u);
}

}  // namespace
}  // namespace vramguard::pipelines
