// fp8 matmuls against bf16 at every Linear shape of the full-size Qwen-Image transformer (issue 27, point
// 3), on the GPU it runs on: for each shape, the bf16 Linear, the fp8 one vramguard runs under
// --fp8-compute (the input's rows quantized by fp8_rows.cu, then PyTorch's row-wise scaled fp8 matmul),
// and the fp8-storage path without it (the weight cast to bf16 and scaled at use, then the bf16 Linear);
// each timed as the median of 30 runs after 5, synchronized, and the fp8 output's relative error against
// the bf16 Linear of the same (dequantized) weight. Random normal inputs, weights of std 0.02. Then the
// Linears of a few rows (fp8_few_rows.cu), the prepared inputs, and the matmul's scales row-wise against
// tensor-wise.
// Built with VRAMGUARD_BUILD_BENCH in a CUDA build that has nvcc: ./build-gpu/bin/bench_fp8_linear [TOKENS]
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <ATen/cuda/CUDAContextLight.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "devices/cuda/cuda_fp8.hpp"

namespace {

struct Shape {
  const char* name;
  std::int64_t in, out;
  bool image_rows;           // image tokens (else text tokens)
  std::int64_t samples = 1;  // 2: true CFG's prompt and negative prompt as one batch
};

double milliseconds(const std::function<void()>& body) {
  for (int i = 0; i < 5; ++i) body();
  cudaDeviceSynchronize();
  return vramguard::bench::time_runs(30,
                                     [&] {
                                       body();
                                       cudaDeviceSynchronize();
                                     })
      .median_ms;
}

// A weight of std 0.02 quantized per tensor as --weight-dtype does (scale = amax / 448), and the bf16
// weight it stands for.
struct Fp8Weight {
  at::Tensor stored, scale, dequantized;
};

Fp8Weight fp8_weight(std::int64_t out, std::int64_t in, const at::TensorOptions& options) {
  const at::Tensor w = at::randn({out, in}, options) * 0.02;
  const at::Tensor scale = w.abs().max().to(at::kFloat) / 448;
  const at::Tensor stored = (w.to(at::kFloat) / scale).to(at::kFloat8_e4m3fn);
  return {stored, scale, (stored.to(at::kFloat) * scale).to(at::kBFloat16)};
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t image_tokens = argc > 1 ? std::atoll(argv[1]) : 8192, text_tokens = 1659;
  const auto* gpu = at::cuda::getDeviceProperties(0);
  std::printf("%s (sm_%d%d); %lld image and %lld text tokens; bf16 input\n", gpu->name, gpu->major, gpu->minor,
              static_cast<long long>(image_tokens), static_cast<long long>(text_tokens));
  if (!vramguard::cuda::has_fp8_matmuls(0)) {
    std::printf("this GPU has no fp8 tensor cores\n");
    return 1;
  }
  const std::vector<Shape> shapes = {
      {"attention q/k/v/out (image)", 3072, 3072, true},
      {"MLP up (image)", 3072, 12288, true},
      {"MLP down (image)", 12288, 3072, true},
      {"attention q/k/v/out (text)", 3072, 3072, false},
      {"MLP up (text)", 3072, 12288, false},
      {"MLP down (text)", 12288, 3072, false},
      {"txt_in", 3584, 3072, false},
      {"attention q/k/v/out (text x 2)", 3072, 3072, false, 2},
      {"txt_in (text x 2)", 3584, 3072, false, 2},
      {"img_in", 64, 3072, true},
      {"proj_out", 3072, 64, true},
  };
  const auto options = at::TensorOptions().device(at::kCUDA, 0).dtype(at::kBFloat16);
  std::printf("%-30s %10s %10s %10s %8s %8s %10s\n", "Linear", "bf16 ms", "fp8 ms", "dequant ms", "bf16/fp8", "dq/fp8",
              "rel error");
  for (const auto& s : shapes) {
    const std::int64_t rows = (s.image_rows ? image_tokens : text_tokens) * s.samples;
    const at::Tensor x = at::randn({rows, s.in}, options);
    const auto [stored, scale, dequantized] = fp8_weight(s.out, s.in, options);
    const at::Tensor bias = at::randn({s.out}, options) * 0.02;
    const double bf16 = milliseconds([&] { (void)at::linear(x, dequantized, bias); });
    const double fp8 = milliseconds([&] { (void)vramguard::cuda::fp8_linear(x, stored, scale, bias); });
    const double dequant =
        milliseconds([&] { (void)at::linear(x, stored.to(at::kBFloat16).mul_(scale.to(at::kBFloat16)), bias); });
    const at::Tensor reference = at::linear(x, dequantized, bias).to(at::kFloat);
    const at::Tensor ours = vramguard::cuda::fp8_linear(x, stored, scale, bias).to(at::kFloat);
    const double error = ((ours - reference).norm() / reference.norm()).item<double>();
    std::printf("%-30s %10.3f %10.3f %10.3f %7.2fx %7.2fx %10.2e\n", s.name, bf16, fp8, dequant, bf16 / fp8,
                dequant / fp8, error);
  }

  // A Linear of a few rows (a sample's modulation, the timestep's embedding): the weight read as stored
  // by fp8_few_rows.cu, against bf16 and against the tensor cores' fp8 matmul of the quantized rows; each
  // output's relative error against the float32 Linear of the dequantized weight.
  std::printf("\n%-34s %5s %9s %9s %9s %8s %8s %10s %10s\n", "few rows (rows x in -> out)", "rows", "bf16 ms",
              "fp8mm ms", "few ms", "bf16/few", "mm/few", "few err", "fp8mm err");
  for (const auto& s : std::vector<Shape>{{"img_mod, txt_mod", 3072, 18432, false},
                                          {"norm_out", 3072, 6144, false},
                                          {"time embedding linear_2", 3072, 3072, false}}) {
    const auto [stored, scale, dequantized] = fp8_weight(s.out, s.in, options);
    const at::Tensor bias = at::randn({s.out}, options) * 0.02;
    for (const std::int64_t rows : {1, 2, 4, 8}) {  // 8: the bf16 and fp8 matmuls alone
      const at::Tensor x = at::randn({rows, s.in}, options);
      const double bf16 = milliseconds([&] { (void)at::linear(x, dequantized, bias); });
      const auto tensor_cores = [&] {
        return vramguard::cuda::fp8_linear(vramguard::cuda::quantize_rows(x), at::kBFloat16, stored, scale, bias);
      };
      const double matmul = milliseconds([&] { (void)tensor_cores(); });
      const at::Tensor reference = at::linear(x.to(at::kFloat), stored.to(at::kFloat) * scale, bias.to(at::kFloat));
      const auto error = [&](const at::Tensor& y) {
        return ((y.to(at::kFloat) - reference).norm() / reference.norm()).item<double>();
      };
      if (rows > vramguard::cuda::kFp8FewRowsMax) {  // past the kernel's rows: what the limit is set by
        std::printf("%-34s %5lld %9.3f %9.3f %9s %8s %8s %10s %10.2e\n", s.name, static_cast<long long>(rows), bf16,
                    matmul, "-", "-", "-", "-", error(tensor_cores()));
        continue;
      }
      const double few = milliseconds([&] { (void)vramguard::cuda::fp8_few_rows_linear(x, stored, scale, bias); });
      std::printf("%-34s %5lld %9.3f %9.3f %9.3f %7.2fx %7.2fx %10.2e %10.2e\n", s.name, static_cast<long long>(rows),
                  bf16, matmul, few, bf16 / few, matmul / few,
                  error(vramguard::cuda::fp8_few_rows_linear(x, stored, scale, bias)), error(tensor_cores()));
    }
  }

  // Preparing an input once (vramguard/runtime/linear_input.hpp), as the native MMDiT runs it: an
  // attention's modulated norm quantized in one kernel for q, k and v, and the MLP's GELU applied as its
  // hidden layer is quantized; against the ops and each Linear's own quantization.
  using vramguard::cuda::RowActivation;
  std::printf("\n%-44s %12s %12s %8s %12s\n", "image tokens' work", "apart ms", "prepared ms", "faster", "bf16 ms");
  {
    // An attention's input: AdaLN's modulated norm of the image stream, then q, k and v. Apart: the norm
    // and the modulation as ops, each Linear quantizing the result itself; prepared: one kernel for the
    // norm, the modulation and the quantization, shared by the three.
    const at::Tensor x = at::randn({1, image_tokens, 3072}, options);
    const at::Tensor shift = at::randn({1, 1, 3072}, options), scale = at::randn({1, 1, 3072}, options) * 0.5;
    const auto modulated = [&] { return at::addcmul(shift, at::layer_norm(x, {3072}, {}, {}, 1e-6), 1 + scale); };
    const auto [w, w_scale, dequantized] = fp8_weight(3072, 3072, options);
    const double apart = milliseconds([&] {
      const at::Tensor in = modulated();
      for (int i = 0; i < 3; ++i) (void)vramguard::cuda::fp8_linear(in, w, w_scale, at::Tensor());
    });
    const auto fused = [&] {
      return vramguard::cuda::quantize_modulated_norm_rows(x, shift, scale, image_tokens, {}, {}, 1e-6);
    };
    const double prepared = milliseconds([&] {
      const auto rows = fused();
      for (int i = 0; i < 3; ++i) (void)vramguard::cuda::fp8_linear(rows, at::kBFloat16, w, w_scale, at::Tensor());
    });
    const double bf16 = milliseconds([&] {
      const at::Tensor in = modulated();
      for (int i = 0; i < 3; ++i) (void)at::linear(in, dequantized);
    });
    const at::Tensor ours =
        vramguard::cuda::fp8_linear(fused(), at::kBFloat16, w, w_scale, at::Tensor()).to(at::kFloat);
    const at::Tensor reference = at::linear(modulated(), dequantized).reshape({-1, 3072}).to(at::kFloat);
    std::printf("%-44s %12.3f %12.3f %7.2fx %12.3f  (rel error %.2e)\n", "norm + modulation + q, k, v (3 x 3,072)",
                apart, prepared, apart / prepared, bf16, ((ours - reference).norm() / reference.norm()).item<double>());
    const double norm_alone = milliseconds([&] { (void)vramguard::cuda::quantize_rows(modulated()); });
    const double fused_alone = milliseconds([&] { (void)fused(); });
    std::printf("%-44s %12.3f %12.3f %7.2fx\n", "  of which the input's making", norm_alone, fused_alone,
                norm_alone / fused_alone);
  }
  {
    const at::Tensor hidden = at::randn({image_tokens, 12288}, options);
    const auto [w, scale, dequantized] = fp8_weight(3072, 12288, options);
    const double apart =
        milliseconds([&] { (void)vramguard::cuda::fp8_linear(at::gelu(hidden, "tanh"), w, scale, at::Tensor()); });
    const double prepared = milliseconds([&] {
      (void)vramguard::cuda::fp8_linear(vramguard::cuda::quantize_rows(hidden, RowActivation::gelu_tanh), at::kBFloat16,
                                        w, scale, at::Tensor());
    });
    const double bf16 = milliseconds([&] { (void)at::linear(at::gelu(hidden, "tanh"), dequantized); });
    const at::Tensor fused =
        vramguard::cuda::fp8_linear(vramguard::cuda::quantize_rows(hidden, RowActivation::gelu_tanh), at::kBFloat16, w,
                                    scale, at::Tensor())
            .to(at::kFloat);
    const at::Tensor reference = at::linear(at::gelu(hidden, "tanh"), dequantized).to(at::kFloat);
    std::printf("%-44s %12.3f %12.3f %7.2fx %12.3f  (rel error %.2e)\n", "GELU + MLP down (12,288 -> 3,072)", apart,
                prepared, apart / prepared, bf16, ((fused - reference).norm() / reference.norm()).item<double>());
  }

  // The matmul alone, the same e4m3 values under one scale for the whole input and weight (tensor-wise)
  // against one a row and one a column (row-wise, what fp8_linear runs): what per-tensor activation
  // scales would gain, and what a per-tensor scale costs an input whose rows are a modulated norm's
  // (LayerNorm'd rows, so alike in size) against one whose rows differ (the MLP's hidden layer).
  std::printf("\n%-44s %12s %12s %8s %12s %12s\n", "the fp8 matmul alone (image tokens)", "row-wise ms", "tensor ms",
              "faster", "row err", "tensor err");
  for (const auto& s : {shapes[0], shapes[1], shapes[2]}) {
    at::Tensor x = at::randn({image_tokens, s.in}, options);
    if (s.in == 3072) x = at::layer_norm(x, {s.in}, {}, {}, 1e-6) * (1 + at::randn({1, s.in}, options) * 0.5);
    else x = at::gelu(x * (1 + at::rand({image_tokens, 1}, options) * 3), "tanh");  // rows of differing size
    const auto [w, w_scale, dequantized] = fp8_weight(s.out, s.in, options);
    const auto rows = vramguard::cuda::quantize_rows(x);
    const at::Tensor row_scales = rows.scales, column_scales = w_scale.reshape({1, 1}).expand({1, s.out}).contiguous();
    const at::Tensor amax = x.abs().max().to(at::kFloat);
    const at::Tensor tensor_scale = (amax / 448).reshape({});
    const at::Tensor tensor_values = (x.to(at::kFloat) / tensor_scale).clamp(-448, 448).to(at::kFloat8_e4m3fn);
    const at::Tensor w_values = w.t();
    const double row_wise = milliseconds(
        [&] { (void)at::_scaled_mm(rows.values, w_values, row_scales, column_scales, {}, {}, at::kBFloat16, true); });
    const double tensor_wise = milliseconds([&] {
      (void)at::_scaled_mm(tensor_values, w_values, tensor_scale, w_scale.reshape({}), {}, {}, at::kBFloat16, true);
    });
    const at::Tensor reference = at::linear(x, dequantized).to(at::kFloat);
    const auto error = [&](const at::Tensor& y) {
      return ((y.to(at::kFloat) - reference).norm() / reference.norm()).item<double>();
    };
    const double row_error =
        error(at::_scaled_mm(rows.values, w_values, row_scales, column_scales, {}, {}, at::kBFloat16, true));
    const double tensor_error =
        error(at::_scaled_mm(tensor_values, w_values, tensor_scale, w_scale.reshape({}), {}, {}, at::kBFloat16, true));
    std::printf("%-44s %12.3f %12.3f %7.2fx %12.2e %12.2e\n", s.name, row_wise, tensor_wise, row_wise / tensor_wise,
                row_error, tensor_error);
  }
  return 0;
}
