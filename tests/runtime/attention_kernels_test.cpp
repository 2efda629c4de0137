// What an MMDiT block does before and in its joint attention (architectures/common: head_norm_rotary,
// attention), and that on a GPU — vramguard's own kernel (host/devices/cuda/head_norm_rotary.cu) and the
// fused attention PyTorch picks — it gives the values the op-by-op computation gives. The GPU tests run
// in the CUDA build only.
#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/attention.hpp"
#include "common/head_norm_rotary.hpp"

using namespace vramguard::runtime;

namespace {

constexpr double kPi = 3.14159265358979323846;

at::Tensor angles(std::int64_t tokens, std::int64_t pairs, double value) {
  return at::full({tokens, pairs}, value, at::kFloat);
}

TEST(HeadNormRotary, EachHeadIsScaledToARootMeanSquareOfOneThenWeighted) {
  // One head of four: (3, 4, 0, 0) has a mean square of 25 / 4.
  const at::Tensor x = at::tensor({3.0f, 4.0f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  const at::Tensor weight = at::tensor({1.0f, 2.0f, 1.0f, 1.0f});
  const at::Tensor out = norm_rotate_join({{x, weight, angles(1, 2, 0.0).cos(), angles(1, 2, 0.0).sin()}}, 0.0);
  const at::Tensor expected = at::tensor({3.0f / 2.5f, 2 * 4.0f / 2.5f, 0.0f, 0.0f}).view({1, 1, 1, 4});
  EXPECT_TRUE(at::allclose(out, expected, 1e-6, 1e-6)) << out;
}

TEST(HeadNormRotary, EachPairTurnsByItsTokensAngle) {
  // Two tokens, the second turned a quarter turn: (a, b) becomes (-b, a) pair by pair.
  const at::Tensor x = at::tensor({1.0f, 1.0f, 1.0f, -1.0f, 1.0f, 1.0f, 1.0f, -1.0f}).view({1, 2, 1, 4});
  at::Tensor turn = at::zeros({2, 2}, at::kFloat);
  turn[1].fill_(kPi / 2);
  const at::Tensor out = norm_rotate_join({{x, at::ones({4}), turn.cos(), turn.sin()}}, 0.0);
  EXPECT_TRUE(at::allclose(out[0][0], x[0][0], 1e-6, 1e-6)) << out;
  const at::Tensor turned = at::tensor({-1.0f, 1.0f, 1.0f, 1.0f}).view({1, 4});
  EXPECT_TRUE(at::allclose(out[0][1], turned, 1e-6, 1e-6)) << out;
}

TEST(HeadNormRotary, StreamsJoinAlongTheTokensInTheOrderGiven) {
  const at::Tensor text = at::randn({2, 3, 2, 8}), image = at::randn({2, 5, 2, 8});
  const at::Tensor joint = norm_rotate_join({{text, at::ones({8}), angles(3, 4, 0.3).cos(), angles(3, 4, 0.3).sin()},
                                             {image, at::ones({8}), angles(5, 4, 0.7).cos(), angles(5, 4, 0.7).sin()}},
                                            1e-6);
  ASSERT_EQ(joint.sizes(), (at::IntArrayRef{2, 8, 2, 8}));
  EXPECT_TRUE(at::equal(joint.narrow(1, 0, 3), rotate_pairs(rms_norm(text, at::ones({8}), 1e-6),
                                                            angles(3, 4, 0.3).cos(), angles(3, 4, 0.3).sin())));
  EXPECT_TRUE(at::equal(joint.narrow(1, 3, 5), rotate_pairs(rms_norm(image, at::ones({8}), 1e-6),
                                                            angles(5, 4, 0.7).cos(), angles(5, 4, 0.7).sin())));
}

bool has_gpu() { return at::hasCUDA(); }

// An MMDiT's streams as the native transformer hands them over: a text stream and an image stream with
// their own RMSNorm weights and angles, two samples, three heads of `head_dim`.
std::vector<HeadsToRotate> streams_on_gpu(c10::ScalarType dtype, std::int64_t head_dim) {
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  std::vector<HeadsToRotate> parts;
  for (const std::int64_t tokens : {37, 300}) {
    const at::Tensor theta = at::rand({tokens, head_dim / 2}, gpu.dtype(at::kFloat)) * 6.0;
    parts.push_back({at::randn({2, tokens, 3, head_dim}, gpu.dtype(dtype)) * 4.0,
                     (at::rand({head_dim}, gpu) + 0.5).to(dtype), theta.cos(), theta.sin()});
  }
  return parts;
}

// Attention of one sample's queries [heads, tokens, head_dim] over the keys `kept` names, in float64.
at::Tensor attention_over(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& kept,
                          double scale) {
  const auto keys = k.to(at::kDouble).index_select(-2, kept), values = v.to(at::kDouble).index_select(-2, kept);
  return at::matmul(at::softmax(at::matmul(q.to(at::kDouble), keys.transpose(-2, -1)) * scale, -1), values);
}

TEST(Attention, EachSampleAttendsOnlyToTheKeysItKeepsWhetherTheyComeFirstOrNot) {
  // [batch, heads, tokens, head_dim]: a batch whose first sample keeps every key, the second the first 30
  // (a prompt padded at the sequence's end) and the third all but keys 5 to 9 (padding mid-sequence).
  const at::Tensor q = at::randn({3, 2, 40, 16}), k = at::randn({3, 2, 40, 16}), v = at::randn({3, 2, 40, 16});
  at::Tensor keep = at::ones({3, 40}, at::kBool);
  keep[1].narrow(0, 30, 10).fill_(false);
  keep[2].narrow(0, 5, 5).fill_(false);
  const KeyMask mask = KeyMask::of(keep);
  EXPECT_EQ(mask.kept_prefix, (std::vector<std::int64_t>{40, 30, -1}));
  const double scale = 0.25;
  const at::Tensor out = masked_attention(q, k, v, mask, scale);
  ASSERT_EQ(out.sizes(), q.sizes());
  for (std::int64_t sample = 0; sample < 3; ++sample) {
    const at::Tensor reference =
        attention_over(q[sample], k[sample], v[sample], keep[sample].nonzero().flatten(), scale);
    EXPECT_TRUE(at::allclose(out[sample].to(at::kDouble), reference, 1e-5, 1e-5))
        << "sample " << sample << ": largest difference "
        << (out[sample].to(at::kDouble) - reference).abs().max().item<double>();
  }
  EXPECT_TRUE(KeyMask::of(at::ones({2, 7}, at::kBool)).hides_nothing()) << "a mask that hides nothing is dropped";
}

TEST(Attention, AJointAttentionsAnswerComesBackSplitIntoItsStreamsLaidOutForTheirLinears) {
  // An MMDiT's joint sequence: 25 image tokens, then 15 of text whose last 4 are the first sample's padding.
  const at::Tensor q = at::randn({2, 3, 40, 8}), k = at::randn({2, 3, 40, 8}), v = at::randn({2, 3, 40, 8});
  for (const bool padded : {false, true}) {
    at::Tensor keep = at::ones({2, 40}, at::kBool);
    if (padded) keep[0].narrow(0, 36, 4).fill_(false);
    const KeyMask mask = KeyMask::of(keep);
    const auto streams = joint_attention(q, k, v, mask, 0.3, {25, 15});
    ASSERT_EQ(streams.size(), 2u);
    // [batch, tokens, heads × head_dim]: the heads of each token side by side, as the Linear reads them.
    const at::Tensor joined = masked_attention(q, k, v, mask, 0.3).transpose(1, 2).flatten(2);
    EXPECT_EQ(streams[0].sizes(), (std::vector<std::int64_t>{2, 25, 24}));
    EXPECT_EQ(streams[1].sizes(), (std::vector<std::int64_t>{2, 15, 24}));
    for (const auto& stream : streams) EXPECT_TRUE(stream.is_contiguous());
    EXPECT_TRUE(at::equal(streams[0], joined.narrow(1, 0, 25))) << "padded: " << padded;
    EXPECT_TRUE(at::equal(streams[1], joined.narrow(1, 25, 15))) << "padded: " << padded;
  }
  // One sample, nothing hidden: the same split.
  const auto one = joint_attention(q.narrow(0, 0, 1), k.narrow(0, 0, 1), v.narrow(0, 0, 1), KeyMask{}, 0.3, {25, 15});
  const at::Tensor whole = masked_attention(q.narrow(0, 0, 1), k.narrow(0, 0, 1), v.narrow(0, 0, 1), KeyMask{}, 0.3);
  EXPECT_TRUE(at::equal(one[1], whole.transpose(1, 2).flatten(2).narrow(1, 25, 15)));
}

TEST(HeadNormRotary, TheGpuKernelGivesTheOpByOpValues) {
  if (!has_gpu()) GTEST_SKIP() << "no GPU in this build";
  for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
    for (const std::int64_t head_dim : {128, 64, 34}) {
      const auto parts = streams_on_gpu(dtype, head_dim);
      const at::Tensor fused = norm_rotate_join(parts, 1e-6);
      const at::Tensor eager = norm_rotate_join(parts, 1e-6, FusedKernels::never);
      ASSERT_EQ(fused.sizes(), eager.sizes());
      ASSERT_EQ(fused.scalar_type(), dtype);
      // The same rounding steps: equal but where a mean square summed in another order rounds the other
      // way (one unit in the last place of the result).
      const at::Tensor difference = (fused.to(at::kFloat) - eager.to(at::kFloat)).abs();
      const double ulp = dtype == at::kBFloat16 ? 1.0 / 128 : dtype == at::kHalf ? 1.0 / 1024 : 1e-6;
      // One unit in the last place of a normalized value (of size ~1) can outweigh a rotated result that
      // cancels to near zero: the bound is at the normalized values' scale, not the result's.
      const at::Tensor allowed = (eager.to(at::kFloat).abs() + 2.0) * ulp;
      EXPECT_TRUE(difference.le(allowed).all().item<bool>()) << c10::toString(dtype) << " head_dim " << head_dim;
      if (dtype != at::kFloat) {  // a rounding to half precision flips only at a boundary
        EXPECT_GE(difference.eq(0).to(at::kFloat).mean().item<double>(), 0.99) << c10::toString(dtype);
      }
    }
  }
}

TEST(Attention, OnTheGpuGivesTheReferenceValues) {
  if (!has_gpu()) GTEST_SKIP() << "no GPU in this build";
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  for (const auto dtype : {at::kBFloat16, at::kHalf}) {
    // [batch, heads, tokens, head_dim]
    const at::Tensor q = at::randn({2, 4, 300, 128}, gpu.dtype(dtype)),
                     k = at::randn({2, 4, 300, 128}, gpu.dtype(dtype));
    const at::Tensor v = at::randn({2, 4, 300, 128}, gpu.dtype(dtype));
    const double scale = 1.0 / std::sqrt(128.0);
    const at::Tensor out = masked_attention(q, k, v, KeyMask{}, scale).to(at::kFloat);
    const at::Tensor weights =
        at::softmax(at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) * scale, -1);
    const at::Tensor reference = at::matmul(weights, v.to(at::kFloat));
    EXPECT_TRUE(at::allclose(out, reference, 2e-2, 2e-2))
        << c10::toString(dtype) << ": largest difference " << (out - reference).abs().max().item<double>();
    // A padded batch: the second sample's last 50 keys hidden. Each sample equals the attention over
    // its own kept keys.
    at::Tensor keep = at::ones({2, 300}, at::kBool);
    keep[1].narrow(0, 250, 50).fill_(false);
    const at::Tensor masked = masked_attention(q, k, v, KeyMask::of(keep).on(q.device()), scale).to(at::kFloat);
    const at::Tensor second = at::matmul(
        at::softmax(at::matmul(q[1].to(at::kFloat), k[1].narrow(-2, 0, 250).to(at::kFloat).transpose(-2, -1)) * scale,
                    -1),
        v[1].narrow(-2, 0, 250).to(at::kFloat));
    EXPECT_TRUE(at::allclose(masked[1], second, 2e-2, 2e-2)) << c10::toString(dtype);
    EXPECT_TRUE(at::allclose(masked[0], reference[0], 2e-2, 2e-2)) << c10::toString(dtype);
    // Keys hidden mid-sequence: those kept are gathered rather than narrowed to.
    keep[0].narrow(0, 100, 50).fill_(false);
    const at::Tensor gathered = masked_attention(q, k, v, KeyMask::of(keep).on(q.device()), scale).to(at::kFloat);
    const at::Tensor kept = keep[0].nonzero().flatten().to(q.device());
    const at::Tensor first = at::matmul(
        at::softmax(
            at::matmul(q[0].to(at::kFloat), k[0].index_select(-2, kept).to(at::kFloat).transpose(-2, -1)) * scale, -1),
        v[0].index_select(-2, kept).to(at::kFloat));
    EXPECT_TRUE(at::allclose(gathered[0], first, 2e-2, 2e-2)) << c10::toString(dtype);
    EXPECT_TRUE(at::allclose(gathered[1], second, 2e-2, 2e-2)) << c10::toString(dtype);
  }
}

}  // namespace
