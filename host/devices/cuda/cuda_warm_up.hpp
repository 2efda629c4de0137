#pragma once
// The CUDA context grows after it is made: cuBLAS and cuDNN create their handles, and CUDA loads each
// kernel's module the first time it runs (lazy loading). Measured at creation, the context is ~0.2 GB
// smaller than it is once a model has run, and a cap counted with the smaller figure is exceeded by
// that much as the driver sees it. Running the kinds of kernel the families use once, on small
// inputs, before the context is measured makes the measurement the one that holds.
namespace vramguard::cuda {

// Runs the warm-up on `gpu` and waits for it; what it allocated goes back to the allocator's cache.
// A failure is logged and ignored: the measurement is then only smaller, as it was without.
void warm_up_kernels(int gpu);

}  // namespace vramguard::cuda
