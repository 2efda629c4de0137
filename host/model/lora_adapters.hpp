#pragma once
// LoRA files (--lora FILE[:SCALE]) read and attached to the model they adapt, before anything loads.
// Each adapter's two matrices become tensors of the unit that holds the Linear they adapt, so every
// strategy plans, loads and streams them with that unit (a streamed block streams its adapters too,
// and no weight is ever copied a second time). The forward code adds x·Aᵀ·Bᵀ·scale to the Linear's
// output (runtime::UnitScope::linear).
//
// Three namings are read, with the scale diffusers' load_lora_weights makes of each:
// - diffusers' (save_lora_weights, PEFT): transformer.<module>.lora_A/lora_B.weight; alpha / r from the
//   file's lora_adapter_metadata (its patterns and rsLoRA too), 1 without metadata;
// - kohya's: lora_unet_<module with '_' for '.'>.lora_down/lora_up.weight with .alpha: alpha / rank;
// - ComfyUI's: diffusion_model.<module>.lora_down/lora_up.weight (alpha / rank) or .lora_A/lora_B
//   (whose .alpha diffusers ignores: 1).
// The user's scale multiplies it, as set_adapters' weight does; several LoRAs add up.
#include <cstdint>
#include <string>
#include <vector>

#include "model/model_inspector.hpp"
#include "vramguard/option_values.hpp"

namespace vramguard {

// Reads each LoRA, checks every key against the model — it must name a Linear (a 2-D weight) of the
// model with matching shapes, hold finite values, in a floating dtype — and adds its matrices to the
// units and their bytes. InputError naming the file and the key otherwise (a LoRA for another model
// names its first keys beside the model's layers).
void attach_loras(InspectedModel& model, const LoraFiles& loras, std::optional<DType> target_dtype);

// The name an adapter's matrix takes among the model's tensors (PEFT's in-model naming):
// "<module>.lora_A.lora<N>.weight" for the down (A) matrix of the Nth --lora.
std::string lora_tensor_name(const std::string& module, bool up, std::size_t lora_index);

}  // namespace vramguard
