#include "synth/synthetic_architecture.hpp"

#include <algorithm>
#include <map>

#include "core/byte_level.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "qwen2/qwen2_layout.hpp"
#include "qwen2_5_vl/qwen2_5_vl_layout.hpp"
#include "qwenimage_transformer/qwenimage_transformer_layout.hpp"
#include "qwenimage_vae/qwenimage_vae_layout.hpp"

namespace vramguard {
namespace {

using ojson = nlohmann::ordered_json;

// ---- Qwen2 / Qwen2.5 decoder (transformers Qwen2ForCausalLM) ------------------------------------------

// A decoder's shapes; the rest of its config (rope, norms, positions) as Qwen2's defaults.
Qwen2Config qwen2_shape(std::int64_t hidden, std::int64_t layers, std::int64_t intermediate, std::int64_t heads,
                        std::int64_t kv_heads, std::int64_t vocab, bool tie) {
  Qwen2Config c;
  c.hidden = hidden, c.layers = layers, c.intermediate = intermediate, c.heads = heads, c.kv_heads = kv_heads;
  c.vocab = vocab, c.tie = tie, c.head_dim = hidden / heads;
  return c;
}

const std::map<std::string, Qwen2Config>& qwen2_presets() {
  static const std::map<std::string, Qwen2Config> presets = {
      {"tiny", qwen2_shape(64, 2, 128, 4, 2, 512, false)},
      {"tiny-tied", qwen2_shape(64, 2, 128, 4, 2, 512, true)},
      {"small", qwen2_shape(256, 4, 704, 8, 2, 4096, true)},
      {"0.5b", qwen2_shape(896, 24, 4864, 14, 2, 151936, true)},  // Qwen2.5-0.5B
      {"2b",
       qwen2_shape(2048, 20, 11008, 16, 16, 151936, false)},  // ≈2 B: the streaming benchmark's shapes (bench/gpu)
      {"7b", qwen2_shape(3584, 28, 18944, 28, 4, 152064, false)},   // Qwen2.5-7B
      {"72b", qwen2_shape(8192, 80, 29568, 64, 8, 152064, false)},  // Qwen2.5-72B
  };
  return presets;
}

SynthModel qwen2(const std::string& preset) {
  const auto& presets = qwen2_presets();
  const auto it = presets.find(preset);
  if (it == presets.end())
    throw UsageError("qwen2 has no preset '" + preset + "'",
                     "presets: " + text::join(synthetic_presets("qwen2"), ", "));
  SynthModel model{"qwen2", preset, false, {}, {}, {}};
  model.components.push_back(qwen2_component(it->second));
  return model;
}

// ---- Qwen-Image-Edit pipeline (diffusers QwenImageEditPipeline) ---------------------------------------

struct PipelineConfig {
  MmditConfig transformer;
  Qwen2Config text;
  VisionConfig vision;
  VaeConfig vae;
  MultimodalConfig multimodal;
};

const std::map<std::string, PipelineConfig>& pipeline_presets() {
  static const std::map<std::string, PipelineConfig> presets = {
      {"full",
       {{60, 24, 128, 3584, 64, 16, 2, {16, 56, 56}, false, {}},
        qwen2_shape(3584, 28, 18944, 28, 4, 152064, false),
        {32, 1280, 16, 3420, 3584, 14, 2, 2, 3, 112, {7, 15, 23, 31}, 10000.0},
        {96, 16, 2, {1, 2, 4, 4}, {false, true, true}, 3, {}, {}},
        {{16, 24, 24}, 151655, 151656, 151652, 151653, 128000, 1000000.0}}},
      {"tiny",
       {{2, 2, 16, 64, 16, 4, 2, {4, 6, 6}, false, {}},
        qwen2_shape(64, 2, 128, 4, 2, 512, false),
        {2, 32, 2, 64, 64, 14, 2, 2, 3, 112, {1}, 10000.0},
        {8, 4, 1, {1, 2, 2, 2}, {false, true, true}, 3, {}, {}},
        {{2, 3, 3}, 5, 6, 3, 4, 4096, 1000000.0}}},
  };
  return presets;
}

// What an edit reads besides weights, as Qwen-Image-Edit ships it: FlowMatchEuler with Qwen-Image's
// dynamic shifting, the Qwen2-VL processor's config, and a byte-level tokenizer with the chat and
// vision special tokens at the text encoder's ids. The tokenizer has no merges (every byte is a
// token): synthetic weights make no use of real words, and the ids stay inside the vocabulary.
std::map<std::string, ojson> edit_pipeline_files(const MultimodalConfig& m) {
  std::map<std::string, ojson> files;
  files["scheduler/scheduler_config.json"] = ojson{{"_class_name", "FlowMatchEulerDiscreteScheduler"},
                                                   {"base_image_seq_len", 256},
                                                   {"base_shift", 0.5},
                                                   {"max_image_seq_len", 8192},
                                                   {"max_shift", 0.9},
                                                   {"num_train_timesteps", 1000},
                                                   {"shift", 1.0},
                                                   {"shift_terminal", 0.02},
                                                   {"time_shift_type", "exponential"},
                                                   {"use_dynamic_shifting", true},
                                                   {"use_karras_sigmas", false},
                                                   {"use_exponential_sigmas", false},
                                                   {"use_beta_sigmas", false},
                                                   {"invert_sigmas", false},
                                                   {"stochastic_sampling", false}};
  files["processor/preprocessor_config.json"] = ojson{{"image_processor_type", "Qwen2VLImageProcessor"},
                                                      {"do_resize", true},
                                                      {"do_rescale", true},
                                                      {"do_normalize", true},
                                                      {"rescale_factor", 1.0 / 255},
                                                      {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
                                                      {"image_std", {0.26862954, 0.26130258, 0.27577711}},
                                                      {"min_pixels", 3136},
                                                      {"max_pixels", 12845056},
                                                      {"patch_size", 14},
                                                      {"merge_size", 2},
                                                      {"temporal_patch_size", 2},
                                                      {"resample", 3}};
  // Qwen's layout puts <|endoftext|>, <|im_start|> and <|im_end|> nine ids below <|vision_start|>; a
  // preset too small for that puts them after the vision tokens, and the bytes after those.
  const std::int64_t highest = std::max({m.image_token, m.video_token, m.vision_start_token, m.vision_end_token});
  const std::int64_t chat = m.vision_start_token >= 9 ? m.vision_start_token - 9 : highest + 1;
  const std::int64_t first_byte = m.vision_start_token >= 9 ? 0 : chat + 3;
  ojson added = ojson::array();
  for (const auto& [content, id] :
       std::vector<std::pair<std::string, std::int64_t>>{{"<|endoftext|>", chat},
                                                         {"<|im_start|>", chat + 1},
                                                         {"<|im_end|>", chat + 2},
                                                         {"<|vision_start|>", m.vision_start_token},
                                                         {"<|vision_end|>", m.vision_end_token},
                                                         {"<|image_pad|>", m.image_token},
                                                         {"<|video_pad|>", m.video_token}})
    added.push_back({{"id", id},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  ojson vocab = ojson::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_symbols()[static_cast<std::size_t>(b)]] = first_byte + b;
  files["tokenizer/tokenizer.json"] =
      ojson{{"version", "1.0"},
            {"added_tokens", added},
            {"normalizer", {{"type", "NFC"}}},
            {"pre_tokenizer",
             {{"type", "Sequence"},
              {"pretokenizers",
               {{{"type", "Split"},
                 {"pattern", {{"Regex", kQwen2SplitPattern}}},
                 {"behavior", "Isolated"},
                 {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", ojson::array()}, {"ignore_merges", false}}}};
  return files;
}

// The first Qwen-Image-Edit ("qwen-image-edit"), or Edit-2511 ("qwen-image-edit-2511": diffusers'
// QwenImageEditPlusPipeline, the same shapes, its transformer with zero_cond_t).
SynthModel qwen_image_edit(const std::string& architecture, const std::string& preset, bool legacy) {
  const auto& presets = pipeline_presets();
  const auto it = presets.find(preset);
  if (it == presets.end())
    throw UsageError(architecture + " has no preset '" + preset + "'",
                     "presets: " + text::join(synthetic_presets(architecture), ", "));
  PipelineConfig c = it->second;
  const bool plus = architecture == "qwen-image-edit-2511";
  c.transformer.zero_cond_t = plus;
  SynthModel model{architecture, preset, true, {}, {}, {}};
  model.model_index = ojson{{"_class_name", plus ? "QwenImageEditPlusPipeline" : "QwenImageEditPipeline"},
                            {"_diffusers_version", "0.36.0"},
                            {"processor", {"transformers", "Qwen2VLProcessor"}},
                            {"scheduler", {"diffusers", "FlowMatchEulerDiscreteScheduler"}},
                            {"text_encoder", {"transformers", "Qwen2_5_VLForConditionalGeneration"}},
                            {"tokenizer", {"transformers", "Qwen2Tokenizer"}},
                            {"transformer", {"diffusers", "QwenImageTransformer2DModel"}},
                            {"vae", {"diffusers", "AutoencoderKLQwenImage"}}};

  model.components = {qwen2_5_vl_component(c.text, c.vision, c.multimodal, legacy),
                      qwenimage_transformer_component(c.transformer), qwenimage_vae_component(c.vae)};
  model.files = edit_pipeline_files(c.multimodal);
  return model;
}

}  // namespace

std::vector<std::string> synthetic_architectures() { return {"qwen2", "qwen-image-edit", "qwen-image-edit-2511"}; }

std::vector<std::string> synthetic_presets(const std::string& architecture) {
  std::vector<std::string> names;
  if (architecture == "qwen2")
    for (const auto& [name, c] : qwen2_presets()) names.push_back(name);
  if (architecture == "qwen-image-edit" || architecture == "qwen-image-edit-2511")
    for (const auto& [name, c] : pipeline_presets()) names.push_back(name);
  return names;
}

SynthModel synthetic_architecture(const std::string& architecture, const std::string& preset, bool legacy_names) {
  if (architecture == "qwen2") return qwen2(preset);
  if (architecture == "qwen-image-edit" || architecture == "qwen-image-edit-2511")
    return qwen_image_edit(architecture, preset, legacy_names);
  throw UsageError(
      "unknown architecture '" + architecture + "'" + text::did_you_mean(architecture, synthetic_architectures()),
      "architectures: " + text::join(synthetic_architectures(), ", "));
}

}  // namespace vramguard
