#pragma once
// A vocabulary unit (token embeddings, an untied output head) can be many times larger than one block
// of the stack: Qwen2's 151,936-row head is 3.7 blocks of a 2B model. Streamed whole, it sets the size
// of every window slot, and a small card cannot hold two of them. Its rows are independent (a lookup
// gathers rows; logits are one row per token id), so it splits into row slices no larger than a block,
// each its own unit; an adapter runs the slices in order and joins what they compute.
#include <cstdint>
#include <optional>

#include "vramguard/model_graph.hpp"

namespace vramguard {

// Replaces every untied embedding or head unit holding one 2-D tensor larger than `slice_bytes` by row
// slices of at most that size, named "lm_head[0:37984]" (rows first to last + 1). Unset: units over
// twice the largest block become block-sized slices (components without blocks stay as they are);
// 0: nothing is sliced.
void slice_vocabulary_units(Component& component, std::optional<std::uint64_t> slice_bytes);

}  // namespace vramguard
