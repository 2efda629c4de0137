#pragma once
// What an edit asks of the devices, predicted from its prepared inputs before anything loads: the
// activations of its largest model call, which each GPU keeps as headroom beside the weights, and each
// component's work (tokens per pass, passes per edit), so that the plan weighs the transformer's
// 2 x steps passes against the text encoder's two. Libtorch-free: the CLI sets the request from it.
#include <cstdint>

#include "vramguard/strategy.hpp"

namespace vramguard::pipelines {

struct EditDemands {
  std::uint64_t activation_bytes = 0;  // the largest call's; the VAE's in tiles where the edit may tile
  // The VAE's larger call on the whole picture: what it needs where it does not tile.
  std::uint64_t whole_picture_vae_bytes = 0;
  Workload workload;  // components' tokens and passes (tokens and batch left unset)
};

}  // namespace vramguard::pipelines
