#pragma once
// ModelGraph: what a model is made of, read from checkpoint headers alone.
// components → ordered units → tensors. A unit is the smallest piece a strategy may place alone
// (one block of a repeated stack, the embeddings, the final norm and head); units are listed in the
// order the forward pass uses them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vramguard/dtype.hpp"

namespace vramguard {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;  // as stored
  std::vector<std::int64_t> shape;
  std::uint64_t elements = 0;
  std::uint64_t stored_bytes = 0;  // in the checkpoint (0 for a scale made at load: --weight-dtype)
  std::uint64_t bytes = 0;         // once placed: in the target dtype where one is set
  std::string tied_to;             // name of the tensor this one shares storage with: it then has no
                                   // storage of its own, and sums of a unit's bytes leave it out
  std::int64_t first_row = 0;      // a row slice of the stored tensor: its rows first_row to
                                   // first_row + shape[0]; sizes above are the slice's
};

enum class UnitKind : std::uint8_t { embedding, block, head, other };
std::string_view unit_kind_name(UnitKind kind);

struct Unit {
  std::string name;  // the module prefix: "transformer_blocks.12", "model.embed_tokens"
  UnitKind kind = UnitKind::other;
  std::vector<TensorInfo> tensors;
  std::uint64_t bytes = 0;  // sum of tensors' placed bytes (tied duplicates counted once)
  std::uint64_t parameters = 0;
  double flops_per_token = 0;  // forward-pass FLOPs per token that do not depend on the sequence
  // Attention's FLOPs per token per token of context (scores and the weighted sum): a pass of T tokens
  // costs T × (flops_per_token + T × sequence_flops_per_token).
  double sequence_flops_per_token = 0;
  // Of flops_per_token, what Linears with fp8 (e4m3) weights do: fp8 matmuls where a run asks for them
  // (Workload::fp8_matmuls) and the GPU has them.
  double fp8_flops_per_token = 0;
  // Bytes a pass moves per token through the GPU's memory outside its matmuls and attention (norms,
  // modulations, residuals, activation functions, joins), as the family's GPU kernels do them; the
  // second where its Linears run as fp8 matmuls (each input's quantization is a pass of its own, or
  // folded into one). 0 where the family declares none (ArchitectureDescription::elementwise_bytes_per_token).
  double elementwise_bytes_per_token = 0;
  double fp8_elementwise_bytes_per_token = 0;
  std::string tie_group;  // units sharing a tie group must be stored together; named after the shared tensor
  std::string slice_of;   // a row slice of this module's unit ("lm_head"), split because it
                          // was much larger than a block; empty for a whole module
};

// Whether a pass multiplies its tokens by this tensor of the unit: a matrix, unless it is an
// embedding's lookup table (a head tied to the embedding multiplies by it).
bool multiplies_tokens(const Unit& unit, const TensorInfo& tensor);

struct Component {
  std::string name;          // "transformer", "text_encoder", "vae"; "model" for a lone model
  std::string architecture;  // class name from config.json, or "generic"
  std::vector<Unit> units;   // forward order
  // Activation bytes per token for one forward pass of this component at the target dtype:
  // the cost model turns it into headroom.
  double activation_bytes_per_token = 0;
  std::uint64_t default_tokens = 0;  // the architecture's typical workload, 0 when unknown

  std::uint64_t bytes() const;
  std::uint64_t parameters() const;
  std::size_t tensor_count() const;       // stored tensors
  std::size_t tied_tensor_count() const;  // names that share a stored tensor's weights (a tied head)
  const Unit* largest_unit() const;
};

struct ModelGraph {
  std::string source;                 // where it was read from, for messages
  std::optional<DType> target_dtype;  // sizes are for this dtype where set
  std::vector<Component> components;

  std::uint64_t bytes() const;
  std::uint64_t parameters() const;
  std::size_t unit_count() const;
  const Component* find_component(const std::string& name) const;
};

}  // namespace vramguard
