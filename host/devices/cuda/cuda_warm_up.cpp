#include "devices/cuda/cuda_warm_up.hpp"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#if VRAMGUARD_CUDA_KERNELS
#include "devices/cuda/cuda_head_norm_rotary.hpp"
#endif
#include "logging/log.hpp"

namespace vramguard::cuda {

void warm_up_kernels(int gpu) {
  try {
    const auto bf16 = at::TensorOptions().device(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(gpu)));
    for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
      const auto options = bf16.dtype(dtype);
      // Linear layers (cuBLAS and cuBLASLt, with and without a bias epilogue), at a transformer's widths.
      const at::Tensor x = at::randn({256, 3072}, options), w = at::randn({3072, 3072}, options);
      const at::Tensor b = at::zeros({3072}, options);
      at::linear(x, w, b);
      at::linear(x, w);
      at::matmul(x.view({2, 128, 3072}), w);
      // Norms, activations, softmax: the elementwise and reduction kernels of every block.
      at::layer_norm(x, {3072});
      at::gelu(x, "tanh");
      at::silu(x);
      at::softmax(x, -1);
      (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6)).sum();
#if VRAMGUARD_TORCH_MAJOR >= 2
      // Attention: the fused kernels (flash, memory-efficient, cuDNN) SDPA picks for these shapes.
      const at::Tensor q = at::randn({1, 24, 256, 128}, options);
      at::scaled_dot_product_attention(q, q, q);
#endif
#if VRAMGUARD_CUDA_KERNELS
      // vramguard's own kernels: CUDA loads their module at first use.
      const at::Tensor heads = at::randn({1, 256, 24, 128}, options);
      const at::Tensor angles = at::randn({256, 64}, bf16.dtype(at::kFloat));
      at::Tensor joint = at::empty_like(heads);
      head_norm_rotary_into(heads, at::ones({128}, options), 1e-6, angles, angles, joint, 0);
#endif
      // The VAE's convolutions (cuDNN's handle and its first engines) and resampling.
      const at::Tensor video = at::randn({1, 32, 2, 32, 32}, options);
      at::conv3d(video, at::randn({32, 32, 3, 3, 3}, options), {}, 1, 1);
      const at::Tensor image = at::randn({1, 32, 32, 32}, options);
      at::conv2d(image, at::randn({32, 32, 3, 3}, options), {}, 1, 1);
      at::upsample_nearest2d(image, {64, 64});
    }
    cudaDeviceSynchronize();
  } catch (const c10::Error& e) {
    log::debug("warming up cuda:", gpu, " before measuring its context failed: ", e.what_without_backtrace());
  }
}

}  // namespace vramguard::cuda
