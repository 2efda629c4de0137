// A scaled-fp8 checkpoint (ComfyUI's convention: Linear weights in F8_E4M3 with `<module>.scale_weight`)
// read natively: planned and streamed at one byte an element, dequantized where a Linear uses it. The
// fixture tests/data/fixtures/qie_pipeline_tiny_fp8 (the tiny edit with its transformer so stored) gives
// diffusers' edit of the dequantized weights within 1e-3 under every strategy; its fp32 original's
// result shows what fp8 itself costs.
#include <gtest/gtest.h>

#include <algorithm>

#include "fp8_weights.hpp"
#include "torch_tensors.hpp"
#include "qwen_image_edit/edit_run.hpp"
#include "runtime/edit_support.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kBase = fixture("qie_pipeline_tiny");
const fs::path kFixture = fixture("qie_pipeline_tiny_fp8");
const std::string kPipeline = (kFixture / "pipeline").string();

pipelines::EditInputs fixture_call() { return pipelines::prepare_edit(kPipeline, tiny_edit_call()); }

}  // namespace

TEST(Fp8Weights, EveryByteDecodesAsTheFormatsDefine) {
  auto decode = [](DType dtype, std::uint8_t byte) {
    const at::Tensor stored = at::full({1, 1}, byte, at::kByte);
    return runtime::dequantized(stored, dtype, at::Tensor(), at::kFloat).item<float>();
  };
  EXPECT_EQ(decode(DType::F8_E4M3, 0x38), 1.0f);
  EXPECT_EQ(decode(DType::F8_E4M3, 0x7e), 448.0f);      // the largest e4m3fn value
  EXPECT_EQ(decode(DType::F8_E4M3, 0x01), 1.0f / 512);  // the smallest subnormal
  EXPECT_EQ(decode(DType::F8_E4M3, 0xb8), -1.0f);
  EXPECT_TRUE(std::isnan(decode(DType::F8_E4M3, 0x7f)));
  EXPECT_EQ(decode(DType::F8_E5M2, 0x3c), 1.0f);
  EXPECT_EQ(decode(DType::F8_E5M2, 0x7b), 57344.0f);  // the largest finite e5m2
  EXPECT_TRUE(std::isinf(decode(DType::F8_E5M2, 0x7c)));
  // A scale per row multiplies its row.
  const at::Tensor two_rows = at::full({2, 3}, 0x38, at::kByte);
  const at::Tensor scaled =
      runtime::dequantized(two_rows, DType::F8_E4M3, at::tensor(std::vector<float>{2, 3}), at::kFloat);
  EXPECT_TRUE(at::equal(scaled, at::tensor(std::vector<float>{2, 2, 2, 3, 3, 3}).view({2, 3})));
}

TEST(Fp8Weights, AreCountedAtOneByteAnElement) {
  const auto plan = nlohmann::json::parse(runtime::plan(kPipeline, edit_options("balanced", "cuda:3GB")).json);
  const auto base =
      nlohmann::json::parse(runtime::plan((kBase / "pipeline").string(), edit_options("balanced", "cuda:3GB")).json);
  auto block_bytes = [](const nlohmann::json& doc) {
    for (const auto& unit : doc["units"])
      if (unit["name"] == "transformer_blocks.0") return unit["bytes"].get<std::uint64_t>();
    return std::uint64_t{0};
  };
  // The block's 2-D weights go from 4 bytes an element to 1 (its norms and biases stay fp32; each weight
  // gains a 4-byte scale).
  EXPECT_LT(block_bytes(plan), block_bytes(base) / 3);
}

class Fp8Under : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp8Under, EqualsTheEditOfTheDequantizedWeights) {
  for (const auto& c : every_strategy(kPipeline)) {
    if (c.strategy != GetParam()) continue;
    auto options = edit_options(c.strategy, c.gpus);
    options.strategy_options = c.options;
    auto session = runtime::Session::open(kPipeline, options);
    EXPECT_TRUE(plan_uses(*session, c.expected_mode)) << "the plan does not use " << c.expected_mode;
    EXPECT_EQ(session->dtype("transformer"), at::kFloat) << "fp8 weights compute in the rest's dtype";
    const auto out = pipelines::run_edit(*session, fixture_call());
    EXPECT_LT(
        largest_difference(out.final_latents, load_tensor(kFixture / "expected.safetensors", "final_latents_fp8")),
        1e-3);
    EXPECT_LT(largest_difference(out.image_values, load_tensor(kFixture / "expected.safetensors", "image_fp8")),
              1.0 / 255);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, Fp8Under, kEveryStrategyName, strategy_test_name);

// --weight-dtype transformer=fp8 on the fp32 pipeline: the weights quantized as they load (scale = amax /
// 448, nearest e4m3) give the fixture's final_latents_fp8, the edit of the weights it stored so.
class QuantizedAtLoadUnder : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizedAtLoadUnder, EqualsTheEditOfTheFixturesFp8Weights) {
  const std::string base = (kBase / "pipeline").string();
  for (const auto& c : every_strategy(base)) {
    if (c.strategy != GetParam()) continue;
    auto options = edit_options(c.strategy, c.gpus);
    options.strategy_options = c.options;
    options.weight_dtype = {ComponentWeightDType("transformer=fp8")};
    auto session = runtime::Session::open(base, options);
    EXPECT_TRUE(plan_uses(*session, c.expected_mode)) << "the plan does not use " << c.expected_mode;
    const auto out = pipelines::run_edit(*session, pipelines::prepare_edit(base, tiny_edit_call()));
    EXPECT_LT(
        largest_difference(out.final_latents, load_tensor(kFixture / "expected.safetensors", "final_latents_fp8")),
        1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, QuantizedAtLoadUnder, kEveryStrategyName, strategy_test_name);

// A scale per row follows each row's range: closer to the fp32 edit than a scale per weight.
TEST(Fp8Weights, ScalesPerRowComeCloserToTheFp32EditThanAScalePerWeight) {
  const std::string base = (kBase / "pipeline").string();
  const at::Tensor fp32 = load_tensor(kFixture / "expected.safetensors", "final_latents_fp32");
  auto distance = [&](const std::string& scales) {
    auto options = edit_options("balanced", "cuda:3GB");
    options.weight_dtype = {ComponentWeightDType("transformer=fp8")};
    options.fp8_scales = Fp8Scales(scales);
    auto session = runtime::Session::open(base, options);
    return largest_difference(
        pipelines::run_edit(*session, pipelines::prepare_edit(base, tiny_edit_call())).final_latents, fp32);
  };
  EXPECT_LT(distance("row"), distance("tensor"));
}

// A bf16 model quantized with a scale per row holds more float32 scale bytes than bf16 biases and norms;
// it computes in bf16 all the same (it once computed in float32, and its bf16 biases then met float32
// activations: "self and mat2 must have the same dtype").
TEST(Fp8Weights, ScalesPerRowLeaveABf16ModelComputingInBf16) {
  auto tensor = [](const std::string& name, DType dtype, std::vector<std::int64_t> shape, std::uint64_t element_bytes) {
    TensorInfo t;
    t.name = name, t.dtype = dtype, t.shape = shape, t.elements = 1;
    for (const auto d : shape) t.elements *= static_cast<std::uint64_t>(d);
    t.bytes = t.elements * element_bytes;
    return t;
  };
  Component component;
  component.name = "transformer";
  Unit unit;
  unit.tensors = {tensor("img_in.weight", DType::F8_E4M3, {3072, 64}, 1),
                  tensor("img_in.scale_weight", DType::F32, {3072}, 4), tensor("img_in.bias", DType::BF16, {3072}, 2)};
  component.units.push_back(unit);
  EXPECT_EQ(runtime::compute_dtype(component, std::nullopt), at::kBFloat16);
}

// What users download from ComfyUI: the transformer as one fp8 file, its names under
// model.diffusion_model., beside other parts' tensors. With --component transformer=FILE the diffusers
// folder (here holding no transformer weights at all) supplies its config and the other components.
TEST(Fp8Weights, ATransformerFromOneSingleFileCheckpointGivesTheEditOfTheFolderWithIt) {
  TempDir tmp;
  const fs::path folder = tmp / "pipeline";
  fs::copy(kBase / "pipeline", folder, fs::copy_options::recursive);
  fs::permissions(folder / "transformer", fs::perms::owner_all, fs::perm_options::add);
  fs::remove(folder / "transformer" / "diffusion_pytorch_model.safetensors");
  const fs::path single =
      single_file_checkpoint(kFixture / "pipeline" / "transformer" / "diffusion_pytorch_model.safetensors",
                             tmp / "qwen_image_edit_fp8_e4m3fn.safetensors", "model.diffusion_model.");
  auto options = edit_options("sequential-offload", "cuda:3GB");
  options.component = {NamedComponent("transformer", single.string())};
  auto session = runtime::Session::open(folder.string(), options);
  const auto out = pipelines::run_edit(*session, pipelines::prepare_edit(folder.string(), tiny_edit_call()));
  EXPECT_LT(largest_difference(out.final_latents, load_tensor(kFixture / "expected.safetensors", "final_latents_fp8")),
            1e-3);
}
