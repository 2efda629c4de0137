// A Linear's input prepared once for the Linears that read it (runtime/src/linear_input): the MLP's GELU
// applied where the Linear reads it, and under fp8 matmuls (on a GPU with fp8 tensor cores, in a build
// with vramguard's kernel) the rows quantized once, the GELU in the same pass.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <gtest/gtest.h>

#include "linear_input.hpp"

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
