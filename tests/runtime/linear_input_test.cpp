// A Linear's input prepared once for the Linears that read it (vramguard/runtime/linear_input.hpp): the
// MLP's GELU applied where the Linear reads it, or AdaLN's modulated norm; and under fp8 matmuls (on a GPU
// with fp8 tensor cores, in a build with vramguard's kernels) the rows quantized once, with the GELU or
// the modulated norm in the same pass.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vramguard/runtime/linear_input.hpp"

using vramguard::runtime::LinearInput;
using vramguard::runtime::PreparedLinearInput;

namespace {

#if VRAMGUARD_TORCH_MAJOR >= 2  // float8 dtypes: PyTorch 2.1 on, as fp8 matmuls need
double relative_error(const at::Tensor& ours, const at::Tensor& reference) {
  const at::Tensor r = reference.to(at::kFloat);
  return ((ours.to(at::kFloat) - r).norm() / r.norm()).item<double>();
}

// A weight as --weight-dtype quantizes it: e4m3 values and one scale (amax / 448).
struct Fp8Weight {
  at::Tensor values, scale, dequantized;
};

Fp8Weight fp8_weight(std::int64_t out, std::int64_t in, const at::TensorOptions& gpu) {
  const at::Tensor w = at::randn({out, in}, gpu.dtype(at::kFloat)) * 0.02;
  const at::Tensor scale = w.abs().max() / 448;
  const at::Tensor values = (w / scale).to(at::kFloat8_e4m3fn);
  return {values, scale, (values.to(at::kFloat) * scale).to(at::kBFloat16)};
}
#endif

// The GPU tests' condition; false where they cannot run.
bool fp8_matmuls_here() {
#if VRAMGUARD_TORCH_MAJOR >= 2
  return at::hasCUDA() && vramguard::runtime::runs_fp8_matmuls_on(0);
#else
  return false;
#endif
}

}  // namespace

TEST(LinearInput, TheGeluIsTheOpsWhereTheLinearComputesInItsDtype) {
  const at::Tensor x = at::randn({2, 7, 16}) * 3;
  PreparedLinearInput gelu(x, LinearInput::gelu_tanh), as_is(x, LinearInput::as_is);
  EXPECT_TRUE(gelu.activated().equal(at::gelu(x, "tanh")));
  EXPECT_TRUE(as_is.activated().equal(x));
  EXPECT_TRUE(gelu.input().equal(x));
  // On the CPU no Linear is an fp8 matmul: the caller dequantizes.
  EXPECT_FALSE(gelu.fp8_linear(at::zeros({16, 16}, at::kByte), at::ones({1}), at::Tensor()).has_value());
}

TEST(LinearInput, QuantizedOnceItGivesEachFp8MatmulWhatItsOwnQuantizationGives) {
  if (!fp8_matmuls_here()) GTEST_SKIP() << "no GPU with fp8 matmuls in this build";
#if VRAMGUARD_TORCH_MAJOR >= 2
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  const at::Tensor x = at::randn({2, 300, 256}, gpu.dtype(at::kBFloat16));
  const Fp8Weight q = fp8_weight(256, 256, gpu), v = fp8_weight(512, 256, gpu);
  const at::Tensor bias = at::randn({512}, gpu.dtype(at::kBFloat16)) * 0.1;
  PreparedLinearInput shared(x, LinearInput::as_is);
  const auto q_shared = shared.fp8_linear(q.values, q.scale, at::Tensor());
  const auto v_shared = shared.fp8_linear(v.values, v.scale, bias);
  ASSERT_TRUE(q_shared && v_shared);
  const auto q_alone = PreparedLinearInput(x, LinearInput::as_is).fp8_linear(q.values, q.scale, at::Tensor());
  const auto v_alone = PreparedLinearInput(x, LinearInput::as_is).fp8_linear(v.values, v.scale, bias);
  ASSERT_TRUE(q_alone && v_alone);
  EXPECT_EQ(q_shared->sizes(), (std::vector<std::int64_t>{2, 300, 256}));
  EXPECT_EQ(v_shared->sizes(), (std::vector<std::int64_t>{2, 300, 512}));
  EXPECT_TRUE(q_shared->equal(*q_alone));
  EXPECT_TRUE(v_shared->equal(*v_alone));
  // And each is the Linear of the dequantized weight, within fp8's error.
  EXPECT_LT(relative_error(*v_shared, at::linear(x, v.dequantized, bias)), 3e-2);
#endif
}

TEST(LinearInput, TheGeluAppliedAsTheRowsAreQuantizedIsTheOpsGelu) {
  if (!fp8_matmuls_here()) GTEST_SKIP() << "no GPU with fp8 matmuls in this build";
#if VRAMGUARD_TORCH_MAJOR >= 2
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  const Fp8Weight down = fp8_weight(128, 1024, gpu);
  for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
    const at::Tensor hidden = at::randn({3, 100, 1024}, gpu.dtype(dtype)) * 2;
    const auto fused = PreparedLinearInput(hidden, LinearInput::gelu_tanh).fp8_linear(down.values, down.scale, {});
    const auto apart =
        PreparedLinearInput(at::gelu(hidden, "tanh"), LinearInput::as_is).fp8_linear(down.values, down.scale, {});
    ASSERT_TRUE(fused && apart) << c10::toString(dtype);
    EXPECT_EQ(fused->scalar_type(), dtype);
    // The same GELU in float32, rounded to the dtype as the op stores it: the quantized rows differ at
    // most where the two compilers' float rounding (fused multiply-adds) tips a value across a boundary.
    EXPECT_LT(relative_error(*fused, *apart), 1e-3) << c10::toString(dtype);
    const at::Tensor reference = at::linear(at::gelu(hidden, "tanh").to(at::kFloat), down.dequantized.to(at::kFloat));
    EXPECT_LT(relative_error(*fused, reference), 3e-2) << c10::toString(dtype);
  }
#endif
}

namespace {

vramguard::runtime::ModulatedNorm modulated_norm_of(const at::Tensor& x, std::int64_t split) {
  const auto o = x.options();
  const std::int64_t batch = x.size(0), inner = x.size(2);
  return {x,     at::randn({batch, 1, inner}, o), at::randn({batch, 1, inner}, o) * 0.5, 1e-6,
          split, at::randn({batch, 1, inner}, o), at::randn({batch, 1, inner}, o) * 0.5};
}

at::Tensor modulated_by_ops(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return at::addcmul(shift, at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6), 1 + scale);
}

}  // namespace

TEST(LinearInput, AModulatedNormIsShiftPlusTheNormTimesOnePlusScaleTheLaterTokensByTheirOwn) {
  const at::Tensor x = at::randn({2, 9, 16}) * 3 + 1;
  auto m = modulated_norm_of(x, 4);
  PreparedLinearInput split(m);
  const at::Tensor expected = at::cat({modulated_by_ops(x.narrow(1, 0, 4), m.shift, m.scale),
                                       modulated_by_ops(x.narrow(1, 4, 5), m.shift_after, m.scale_after)},
                                      1);
  EXPECT_TRUE(split.activated().equal(expected));
  EXPECT_TRUE(split.input().equal(x));
  m.split = -1;  // one modulation for every token
  EXPECT_TRUE(PreparedLinearInput(m).activated().equal(modulated_by_ops(x, m.shift, m.scale)));
  m.split = 9;  // a split at the end is none
  EXPECT_TRUE(PreparedLinearInput(m).activated().equal(modulated_by_ops(x, m.shift, m.scale)));
}

TEST(LinearInput, TheModulatedNormQuantizedInOnePassIsTheOpsResultQuantized) {
  if (!fp8_matmuls_here()) GTEST_SKIP() << "no GPU with fp8 matmuls in this build";
#if VRAMGUARD_TORCH_MAJOR >= 2
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  // An MMDiT's width (held in registers), a row past the kernel's limit (the ops, then the rows' kernel)
  // and one that leaves threads idle; with and without the later tokens' own modulation.
  for (const std::int64_t inner : {3072, 16384, 64}) {
    const Fp8Weight w = fp8_weight(256, inner, gpu);
    for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
      for (const std::int64_t split : {std::int64_t{-1}, std::int64_t{37}}) {
        const std::string what =
            c10::toString(dtype) + std::string(", ") + std::to_string(inner) + " wide, split " + std::to_string(split);
        const at::Tensor x = at::randn({2, 150, inner}, gpu.dtype(dtype)) * 4 + 2;
        PreparedLinearInput fused(modulated_norm_of(x, split));
        const auto ours = fused.fp8_linear(w.values, w.scale, at::Tensor());
        ASSERT_TRUE(ours.has_value()) << what;
        EXPECT_EQ(ours->sizes(), (std::vector<std::int64_t>{2, 150, 256})) << what;
        EXPECT_EQ(ours->scalar_type(), dtype) << what;
        // The same input made by the ops and quantized by rows: the two differ only where float rounding
        // (the norm's mean and variance summed in another order) tips a value across an fp8 boundary.
        const auto apart = PreparedLinearInput(fused.activated(), LinearInput::as_is).fp8_linear(w.values, w.scale, {});
        ASSERT_TRUE(apart.has_value()) << what;
        EXPECT_LT(relative_error(*ours, *apart), 2e-3) << what;
        const at::Tensor reference = at::linear(fused.activated().to(at::kFloat), w.dequantized.to(at::kFloat));
        EXPECT_LT(relative_error(*ours, reference), 3e-2) << what;
      }
    }
  }
  // One sample's modulation for a batch of two, as broadcasting takes it.
  const at::Tensor x = at::randn({2, 40, 3072}, gpu.dtype(at::kBFloat16));
  auto one = modulated_norm_of(x.narrow(0, 0, 1), -1);
  one.x = x;
  const Fp8Weight w = fp8_weight(256, 3072, gpu);
  PreparedLinearInput fused(one);
  const auto ours = fused.fp8_linear(w.values, w.scale, at::Tensor());
  const auto apart = PreparedLinearInput(fused.activated(), LinearInput::as_is).fp8_linear(w.values, w.scale, {});
  ASSERT_TRUE(ours && apart);
  EXPECT_LT(relative_error(*ours, *apart), 2e-3);
#endif
}

TEST(LinearInput, AFewRowsMultiplyTheFp8WeightAsStoredUnquantizedTheirDtypesRoundingAway) {
  if (!fp8_matmuls_here()) GTEST_SKIP() << "no GPU with fp8 matmuls in this build";
#if VRAMGUARD_TORCH_MAJOR >= 2
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  // A modulation's width, and a narrow one that leaves most of a warp's lanes idle; 1,040 outputs, not a
  // whole number of a block's.
  for (const std::int64_t in : {3072, 48}) {
    const Fp8Weight w = fp8_weight(1040, in, gpu);
    const at::Tensor per_row = w.values.to(at::kFloat).abs().amax(1, true) / 448 + 1e-4;
    for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
      // The output rounded once to its dtype, the sums in float32 in another order than the reference's.
      const double bar = dtype == at::kFloat ? 1e-5 : dtype == at::kHalf ? 1e-3 : 4e-3;
      for (const std::int64_t rows : std::vector<std::int64_t>{1, 2, 3, vramguard::runtime::fp8_few_rows_max()}) {
        for (const bool with_bias : {false, true}) {
          for (const bool rows_scale : {false, true}) {
            const std::string what = c10::toString(dtype) + std::string(", ") + std::to_string(rows) + " x " +
                                     std::to_string(in) + (with_bias ? ", bias" : "") +
                                     (rows_scale ? ", a scale a row" : ", one scale");
            const at::Tensor x = at::randn({rows, 1, in}, gpu.dtype(dtype));
            const at::Tensor bias = with_bias ? at::randn({1040}, gpu.dtype(dtype)) : at::Tensor();
            const at::Tensor scale = rows_scale ? per_row : w.scale;
            // The weight as the runtime may hold it: float8, or its bytes.
            const at::Tensor stored = rows_scale ? w.values.view(at::kByte) : w.values;
            const auto ours = PreparedLinearInput(x, LinearInput::as_is).fp8_linear(stored, scale, bias);
            ASSERT_TRUE(ours.has_value()) << what;
            EXPECT_EQ(ours->sizes(), (std::vector<std::int64_t>{rows, 1, 1040})) << what;
            EXPECT_EQ(ours->scalar_type(), dtype) << what;
            const at::Tensor reference = at::linear(x.to(at::kFloat), w.values.to(at::kFloat) * scale.reshape({-1, 1}),
                                                    with_bias ? bias.to(at::kFloat) : at::Tensor());
            EXPECT_LT(relative_error(*ours, reference), bar) << what;
          }
        }
      }
    }
  }
  // An MLP's GELU applied by the ops first; and one row more than the kernel takes: the tensor cores' matmul
  // of the rows quantized, within fp8's error of the same reference.
  const Fp8Weight w = fp8_weight(1040, 3072, gpu);
  const at::Tensor x = at::randn({2, 3072}, gpu.dtype(at::kBFloat16)) * 2;
  const auto gelu = PreparedLinearInput(x, LinearInput::gelu_tanh).fp8_linear(w.values, w.scale, {});
  ASSERT_TRUE(gelu.has_value());
  EXPECT_LT(relative_error(*gelu, at::linear(at::gelu(x, "tanh").to(at::kFloat), w.dequantized.to(at::kFloat))), 4e-3);
  const at::Tensor more = at::randn({vramguard::runtime::fp8_few_rows_max() + 1, 3072}, gpu.dtype(at::kBFloat16));
  const auto quantized = PreparedLinearInput(more, LinearInput::as_is).fp8_linear(w.values, w.scale, {});
  ASSERT_TRUE(quantized.has_value());
  const double error = relative_error(*quantized, at::linear(more.to(at::kFloat), w.dequantized.to(at::kFloat)));
  EXPECT_GT(error, 4e-3) << "the rows past the few-rows kernel's are quantized";
  EXPECT_LT(error, 3e-2);
#endif
}
