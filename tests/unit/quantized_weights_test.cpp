// Quantizing at load (--weight-dtype COMPONENT=fp8): each 2-D weight becomes e4m3 with a scale of its
// largest magnitude / 448, byte for byte as PyTorch's `(w / scale).to(torch.float8_e4m3fn)` made the
// fixture tests/data/fixtures/qie_pipeline_tiny_fp8 from qie_pipeline_tiny's fp32 weights; the graph
// plans the weights at one byte an element with their scales beside them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "core/dtype_conversion.hpp"
#include "core/errors.hpp"
#include "core/tensor_read.hpp"
#include "model/compute_dtype.hpp"
#include "model/model_inspector.hpp"
#include "support/stored_tensors.hpp"

namespace vramguard {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(TEST_DATA_DIR) / "fixtures";
const fs::path kFp32Transformer =
    kFixtures / "qie_pipeline_tiny" / "pipeline" / "transformer" / "diffusion_pytorch_model.safetensors";
const fs::path kFp8Transformer =
    kFixtures / "qie_pipeline_tiny_fp8" / "pipeline" / "transformer" / "diffusion_pytorch_model.safetensors";

// e4m3fn's value for a byte: sign, 4 exponent bits (bias 7), 3 mantissa bits; 0x7F/0xFF are NaN.
float e4m3_value(std::uint8_t byte) {
  const int exponent = (byte >> 3) & 0xF;
  const float mantissa = static_cast<float>(byte & 7) / 8.0f;
  const float magnitude = exponent == 0 ? std::ldexp(mantissa, -6) : std::ldexp(1.0f + mantissa, exponent - 7);
  return (byte & 0x80) ? -magnitude : magnitude;
}

struct Fd {
  int fd;
  explicit Fd(const fs::path& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() { ::close(fd); }
};

}  // namespace

TEST(Fp8Quantization, EveryValueEncodesToItsOwnByteAndHalfwayRoundsToEven) {
  for (int byte = 0; byte < 256; ++byte) {
    if ((byte & 0x7F) == 0x7F) continue;  // NaN
    const auto code = static_cast<std::uint8_t>(byte);
    EXPECT_EQ(fp8_e4m3_from_float(e4m3_value(code)), byte == 0x80 ? 0x80 : code) << byte;
  }
  EXPECT_EQ(fp8_e4m3_from_float(1.0625f), 0x38);      // between 1 (even) and 1.125: to 1
  EXPECT_EQ(fp8_e4m3_from_float(1.1875f), 0x3A);      // between 1.125 and 1.25 (even): to 1.25
  EXPECT_EQ(fp8_e4m3_from_float(1.0f / 1024), 0x00);  // half the smallest subnormal: to 0 (even)
  EXPECT_EQ(fp8_e4m3_from_float(3.0f / 1024), 0x02);  // 1.5 subnormal steps: to 2 (even)
  EXPECT_EQ(fp8_e4m3_from_float(0.0155f), 0x08);      // rounds up out of the subnormals to 2^-6
  EXPECT_EQ(fp8_e4m3_from_float(455.0f), 0x7E);
  EXPECT_EQ(fp8_e4m3_from_float(-1e9f), 0xFE);  // saturates
  EXPECT_EQ(fp8_e4m3_from_float(NAN), 0x7F);
}

TEST(Fp8Quantization, TheFixturesWeightsQuantizeToItsBytesAndScales) {
  const SafetensorsHeader fp32 = read_safetensors_header(kFp32Transformer.string());
  const Fd file(kFp32Transformer);
  const std::string path = kFp32Transformer.string();
  int weights = 0;
  for (const auto& entry : fp32.tensors) {
    if (entry.shape.size() != 2) continue;
    SCOPED_TRACE(entry.name);
    ++weights;
    UploadSource source{file.fd, &path, fp32.data_offset + entry.begin, entry.elements, DType::F32, DType::F32};
    const std::vector<float> scale = read_fp8_scales(source, static_cast<std::uint64_t>(entry.shape[0]), false);
    const std::string module = entry.name.substr(0, entry.name.size() - 7);
    EXPECT_EQ(scale, testing::stored_tensor<float>(kFp8Transformer.string(), module + ".scale_weight"));
    source.to = DType::F8_E4M3;
    source.quantize_scales = scale.data();
    source.tensor_file_offset = source.file_offset;
    std::vector<std::uint8_t> quantized(entry.elements);
    read_tensor(source, quantized.data());
    EXPECT_EQ(quantized, testing::stored_tensor<std::uint8_t>(kFp8Transformer.string(), entry.name));
  }
  EXPECT_EQ(weights, 34);
}

TEST(Fp8Quantization, APieceOfAWeightFindsItsRowsScales) {
  // Streaming lanes read a weight a piece at a time: each piece must use its own rows' scales.
  const SafetensorsHeader fp32 = read_safetensors_header(kFp32Transformer.string());
  const Fd file(kFp32Transformer);
  const std::string path = kFp32Transformer.string();
  const SafetensorsEntry& entry = *std::find_if(fp32.tensors.begin(), fp32.tensors.end(),
                                                [](const SafetensorsEntry& e) { return e.shape.size() == 2; });
  const auto rows = static_cast<std::uint64_t>(entry.shape[0]), columns = entry.elements / rows;
  UploadSource source{file.fd, &path, fp32.data_offset + entry.begin, entry.elements, DType::F32, DType::F8_E4M3};
  const std::vector<float> scales = read_fp8_scales(source, rows, true);
  ASSERT_EQ(scales.size(), rows);
  source.quantize_scales = scales.data();
  source.scale_row_elements = columns;
  source.tensor_file_offset = source.file_offset;
  std::vector<std::uint8_t> whole(entry.elements), pieces(entry.elements);
  read_tensor(source, whole.data());
  for (std::uint64_t first = 0; first < entry.elements; first += 7) {  // pieces that cut rows anywhere
    UploadSource piece = source;
    piece.elements = std::min<std::uint64_t>(7, entry.elements - first);
    piece.file_offset = source.file_offset + first * 4;
    read_tensor(piece, pieces.data() + first);
  }
  EXPECT_EQ(pieces, whole);
  // Each row's largest magnitude lands on e4m3's largest value, 448.
  for (std::uint64_t r = 0; r < rows; ++r)
    EXPECT_EQ(*std::max_element(whole.begin() + static_cast<std::ptrdiff_t>(r * columns),
                                whole.begin() + static_cast<std::ptrdiff_t>((r + 1) * columns),
                                [](std::uint8_t a, std::uint8_t b) { return (a & 0x7F) < (b & 0x7F); }) &
                  0x7F,
              0x7E);
}

// An fp8 checkpoint computes in the dtype of its other weights (model/compute_dtype.hpp): its activations are
// counted at that size, as for the checkpoint it was quantized from, not at one byte an element because
// its matrices are mostly fp8 bytes.
TEST(Fp8Quantization, AnFp8CheckpointsActivationsAreCountedInTheDtypeItComputesIn) {
  const InspectedModel fp8 = inspect_model((kFixtures / "qie_pipeline_tiny_fp8" / "pipeline").string(), {}, {});
  const InspectedModel fp32 = inspect_model((kFixtures / "qie_pipeline_tiny" / "pipeline").string(), {}, {});
  const Component& quantized = *fp8.graph.find_component("transformer");
  const Component& original = *fp32.graph.find_component("transformer");
  EXPECT_EQ(component_compute_dtype(quantized, std::nullopt), DType::F32);
  EXPECT_DOUBLE_EQ(quantized.activation_bytes_per_token, original.activation_bytes_per_token);
  EXPECT_EQ(component_compute_dtype(quantized, DType::BF16), DType::BF16) << "--dtype bf16 sets it";
}

TEST(Fp8Quantization, TheGraphHoldsEachWeightAtOneByteWithItsScaleAndKeepsWhatIsNamed) {
  InspectOptions options;
  options.quantize["transformer"] = {};
  const auto pipeline = (kFixtures / "qie_pipeline_tiny" / "pipeline").string();
  const InspectedModel quantized = inspect_model(pipeline, {}, options);
  const InspectedModel original = inspect_model(pipeline, {}, {});
  const Component& transformer = *quantized.graph.find_component("transformer");
  const Component& before = *original.graph.find_component("transformer");
  std::uint64_t fp8 = 0, scales = 0;
  for (const auto& unit : transformer.units)
    for (const auto& tensor : unit.tensors) {
      if (tensor.dtype == DType::F8_E4M3) {
        ++fp8;
        EXPECT_EQ(tensor.bytes, tensor.elements);
      }
      if (tensor.name.ends_with(".scale_weight")) {
        ++scales;
        EXPECT_EQ(tensor.stored_bytes, 0u) << "made at load, not read";
      }
    }
  EXPECT_EQ(fp8, 34u);
  EXPECT_EQ(scales, 34u);
  // The blocks' arithmetic moves to fp8 with their weights (the cost model's fp8 matmuls); the
  // modulations', once a sample, was never counted per token.
  for (std::size_t u = 0; u < transformer.units.size(); ++u) {
    const Unit& unit = transformer.units[u];
    EXPECT_DOUBLE_EQ(unit.flops_per_token, before.units[u].flops_per_token) << unit.name;
    EXPECT_EQ(before.units[u].fp8_flops_per_token, 0) << unit.name;
    if (unit.kind == UnitKind::block) {
      EXPECT_GT(unit.flops_per_token, 0) << unit.name;
      EXPECT_DOUBLE_EQ(unit.fp8_flops_per_token, unit.flops_per_token) << unit.name;
    }
  }
  EXPECT_LT(transformer.bytes(), before.bytes() / 3);
  EXPECT_EQ(quantized.components[1].quantized.size(), 34u);
  ASSERT_FALSE(quantized.notes.empty());
  EXPECT_NE(quantized.notes.front().find("34 weights quantized to fp8"), std::string::npos) << quantized.notes.front();

  // Layers named in --fp8-keep stay as they were; a keep list that leaves nothing is refused.
  options.quantize["transformer"].keep = {"img_mod", "txt_mod"};
  const InspectedModel kept = inspect_model(pipeline, {}, options);
  EXPECT_EQ(kept.components[1].quantized.size(), 30u);
  for (const auto& [weight, q] : kept.components[1].quantized) EXPECT_EQ(weight.find("_mod."), std::string::npos);
  options.quantize["transformer"].keep = {"weight"};
  EXPECT_THROW(inspect_model(pipeline, {}, options), InputError);
  options.quantize = {{"unet", {}}};
  EXPECT_THROW(inspect_model(pipeline, {}, options), InputError);
}

}  // namespace vramguard
