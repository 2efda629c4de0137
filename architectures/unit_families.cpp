#include "unit_families.hpp"

namespace vramguard {

const std::vector<UnitFamily>& unit_families() {
  static const std::vector<UnitFamily> all = {
      {{"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2Model", "LlamaModel"},
       qwen2_decoder_units},
      {{"Qwen2_5_VLForConditionalGeneration"}, qwen2_5_vl_units},
      {{"QwenImageTransformer2DModel"}, qwenimage_transformer_units},
      {{"AutoencoderKLQwenImage"}, qwenimage_vae_units},
  };
  return all;
}

}  // namespace vramguard
