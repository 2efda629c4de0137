// The safetensors header parser accepts exactly the format, and refuses every malformed file with
// an error that names the file, the tensor where there is one, and the problem. Never a crash.
#include <gtest/gtest.h>

#include "model/checkpoint_error.hpp"
#include "model/safetensors_header.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

SafetensorsHeader parse(const std::string& bytes) {
  return parse_safetensors_header(bytes, bytes.size(), "test.safetensors");
}

// Parses, expecting a CheckpointError whose message contains every fragment.
void expect_refused(const std::string& bytes, std::initializer_list<std::string> fragments) {
  try {
    parse(bytes);
    ADD_FAILURE() << "accepted a malformed file";
  } catch (const CheckpointError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test.safetensors"), std::string::npos) << message;
    for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

}  // namespace

TEST(SafetensorsHeader, ReadsTensorsMetadataAndOffsets) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},)"
      R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  const auto parsed = parse(safetensors_bytes(header, 28));
  ASSERT_EQ(parsed.tensors.size(), 2u);
  EXPECT_EQ(parsed.tensors[0].name, "a");  // data order
  EXPECT_EQ(parsed.tensors[1].name, "b");
  EXPECT_EQ(parsed.tensors[1].dtype, DType::BF16);
  EXPECT_EQ(parsed.tensors[1].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(parsed.tensors[1].elements, 6u);
  EXPECT_EQ(parsed.metadata.at("format"), "pt");
  EXPECT_EQ(parsed.data_offset, 8 + header.size());
}

TEST(SafetensorsHeader, AcceptsScalarsEmptyTensorsPaddingAndMisalignedData) {
  const std::string header = R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
                             R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]},)"
                             R"("odd":{"dtype":"F16","shape":[3],"data_offsets":[9,15]}}   )";
  const auto parsed = parse(safetensors_bytes(header, 15));
  EXPECT_EQ(parsed.tensors.size(), 3u);
}

TEST(SafetensorsHeader, KnowsEveryDtypeOfTheFormatIncludingSubByteOnes) {
  for (const char* dtype : {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
                            "F8_E8M0", "U16", "U32", "U64", "C64"}) {
    const auto bits = dtype_bits(*dtype_from_name(dtype));
    const std::string header = std::string(R"({"t":{"dtype":")") + dtype + R"(","shape":[8],"data_offsets":[0,)" +
                               std::to_string(bits) + "]}}";
    EXPECT_NO_THROW(parse(safetensors_bytes(header, bits))) << dtype;
  }
  EXPECT_NO_THROW(parse(safetensors_bytes(R"({"t":{"dtype":"F4","shape":[6],"data_offsets":[0,3]}})", 3)));
  expect_refused(safetensors_bytes(R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2), {"whole bytes"});
}

TEST(SafetensorsHeader, RefusesAFileTooShortForTheLengthPrefix) { expect_refused("abc", {"too short"}); }

TEST(SafetensorsHeader, RefusesATruncatedHeader) {
  const std::string full = safetensors_bytes(f32_header({{"w", 4}}), 16);
  expect_refused(full.substr(0, 20), {"beyond the end"});
}

TEST(SafetensorsHeader, RefusesAHeaderLengthBeyondTheFile) {
  expect_refused(safetensors_bytes("{}", 0, 1000), {"header length 1000", "beyond the end"});
}

TEST(SafetensorsHeader, RefusesAHeaderLengthAboveTheFormatsCap) {
  expect_refused(safetensors_bytes("{}", 0, 200'000'000), {"100 MB"});
}

TEST(SafetensorsHeader, RefusesInvalidJson) {
  expect_refused(safetensors_bytes(R"({"w": {"dtype": "F32", )", 0), {"not valid UTF-8 JSON"});
  expect_refused(safetensors_bytes("[1,2,3]", 0), {"not a JSON object"});
}

TEST(SafetensorsHeader, RefusesNumbersTooLargeForJson) {  // found by the fuzzer
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1E999999],"data_offsets":[0,4]}})", 4), {"JSON"});
}

TEST(SafetensorsHeader, RefusesInvalidUtf8) {
  expect_refused(safetensors_bytes("{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                 {"JSON"});
}

TEST(SafetensorsHeader, RefusesAnUnknownDtypeNamingTheTensor) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'", "unknown dtype 'F12'", "BF16"});
}

TEST(SafetensorsHeader, RefusesNegativeOrNonIntegerShapes) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'", "negative"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                 {"non-negative integer"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":"4","data_offsets":[0,4]}})", 4), {"shape"});
}

TEST(SafetensorsHeader, RefusesShapesWhoseSizeOverflows) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'", "64-bit"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'", "overflows"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'"});
}

TEST(SafetensorsHeader, RefusesAShapeThatDisagreesWithTheByteSpan) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16),
                 {"tensor 'w'", "12 bytes", "16 bytes"});
}

TEST(SafetensorsHeader, RefusesOffsetsPastTheEnd) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                 {"tensor 'w'", "past the 8-byte data area"});
}

TEST(SafetensorsHeader, RefusesReversedOrMalformedOffsets) {
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8), {"end before"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 8), {"[begin, end]"});
}

TEST(SafetensorsHeader, RefusesOverlappingTensors) {
  expect_refused(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                   R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                   24),
                 {"tensor 'b'", "overlaps tensor 'a'"});
}

TEST(SafetensorsHeader, RefusesATensorListedTwice) {
  expect_refused(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                   8),
                 {"tensor 'a'", "twice"});
}

TEST(SafetensorsHeader, RefusesBadMetadata) {
  expect_refused(safetensors_bytes(R"({"__metadata__":{"n":1}})", 0), {"__metadata__"});
  expect_refused(safetensors_bytes(R"({"__metadata__":[]})", 0), {"__metadata__"});
}

TEST(SafetensorsHeader, ReadsEntriesAsAParsedDocumentWould) {
  // Fields it does not know are skipped whatever they nest; a field given twice counts as its last.
  const auto header = parse(safetensors_bytes(R"({"w":{"extra":{"a":[1,{"b":[2]}]},"dtype":"F16","dtype":"F32",)"
                                              R"("shape":[2,1],"data_offsets":[0,8],"more":[[]]},)"
                                              R"("__metadata__":{"format":"pt","format":"np"}})",
                                              8));
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].dtype, DType::F32);
  EXPECT_EQ(header.tensors[0].shape, (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(header.metadata.at("format"), "np");
  // A field of the wrong type is as good as absent, and named.
  expect_refused(safetensors_bytes(R"({"w":{"dtype":["F32"],"shape":[1],"data_offsets":[0,4]}})", 4),
                 {"tensor 'w'", "no dtype"});
  expect_refused(safetensors_bytes(R"({"w":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", 4),
                 {"non-negative integer"});
  expect_refused(safetensors_bytes(R"({"w":[1]})", 4), {"tensor 'w'", "not an object"});
  expect_refused(safetensors_bytes(R"({"__metadata__":{},"__metadata__":{}})", 0), {"__metadata__", "twice"});
}

TEST(SafetensorsHeader, ReadsOnlyTheHeaderFromDisk) {
  TempDir dir;
  // A sparse 1 GiB data area: reading the header must not touch it.
  const auto file =
      write_file(dir / "big.safetensors",
                 safetensors_bytes(R"({"w":{"dtype":"U8","shape":[1073741824],"data_offsets":[0,1073741824]}})", 0));
  std::filesystem::resize_file(file, std::filesystem::file_size(file) + (1ULL << 30));
  const auto header = read_safetensors_header(file.string());
  EXPECT_EQ(header.tensors.front().bytes(), 1ULL << 30);
}

TEST(SafetensorsHeader, AMissingFileIsAnInputError) {
  EXPECT_THROW(read_safetensors_header("/nonexistent/x.safetensors"), InputError);
}

TEST(SafetensorsHeader, OverlapIsFoundAcrossEmptyTensorsAndNonNeighbours) {
  // a=[0,100) and c=[60,70) overlap; an empty z=[50,50) between them once hid it.
  const std::string header = R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},)"
                             R"("z":{"dtype":"U8","shape":[0],"data_offsets":[50,50]},)"
                             R"("c":{"dtype":"U8","shape":[10],"data_offsets":[60,70]}})";
  expect_refused(safetensors_bytes(header, 100), {"overlaps tensor 'a'", "'c'"});
  // Not neighbours once sorted: b starts inside a, which ends after b's successor begins.
  const std::string nested = R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},)"
                             R"("b":{"dtype":"U8","shape":[10],"data_offsets":[10,20]},)"
                             R"("c":{"dtype":"U8","shape":[10],"data_offsets":[30,40]}})";
  expect_refused(safetensors_bytes(nested, 100), {"overlaps tensor 'a'"});
}

TEST(SafetensorsHeader, AHeaderOfManyThousandTensorsParsesWhole) {
  // Parsing was quadratic in the number of tensors (40,000 took a minute); bench_inspect times 300,000.
  std::string header = "{";
  const int count = 40'000;
  for (int i = 0; i < count; ++i)
    header += std::string(i ? "," : "") + "\"t" + std::to_string(i) +
              "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" + std::to_string(i) + "," +
              std::to_string(i + 1) + "]}";
  header += "}";
  const auto parsed = parse(safetensors_bytes(header, count));
  EXPECT_EQ(parsed.tensors.size(), static_cast<std::size_t>(count));
  expect_refused(
      safetensors_bytes(
          header.substr(0, header.size() - 1) + R"(,"t7":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})", count),
      {"listed twice", "'t7'"});
}
