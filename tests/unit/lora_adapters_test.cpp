// --lora read from its header and checked against the model before anything loads: the three namings
// with the scale diffusers' load_lora_weights makes of each, the adapters' matrices joining the units of
// the Linears they adapt, and every bad LoRA refused naming the file and the key.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/errors.hpp"
#include "model/lora_adapters.hpp"
#include "model/model_inspector.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

namespace vramguard {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const std::string kPipeline = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny/pipeline";
const std::string kLoras = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny_lora/lora";

struct Matrix {
  std::string name;
  std::vector<std::int64_t> shape;
  float value = 0.01f;
};

// A LoRA file of F32 tensors, each filled with its value, with diffusers' metadata where given.
fs::path lora_file(const fs::path& path, const std::vector<Matrix>& tensors, const std::string& metadata = "") {
  std::string header = "{";
  std::string data;
  if (!metadata.empty()) header += "\"__metadata__\":{\"lora_adapter_metadata\":" + metadata + "},";
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    std::int64_t elements = 1;
    std::string shape;
    for (const auto d : tensors[i].shape) {
      elements *= d;
      if (!shape.empty()) shape += ",";
      shape += std::to_string(d);
    }
    const std::size_t begin = data.size();
    for (std::int64_t e = 0; e < elements; ++e) data.append(reinterpret_cast<const char*>(&tensors[i].value), 4);
    if (i) header += ",";
    header += "\"";
    header += tensors[i].name;
    header += "\":{\"dtype\":\"F32\",\"shape\":[";
    header += shape;
    header += "],\"data_offsets\":[";
    header += std::to_string(begin);
    header += ",";
    header += std::to_string(data.size());
    header += "]}";
  }
  header += "}";
  return testing::write_file(path, testing::safetensors_bytes(header, 0) + data);
}

InspectedModel with_loras(const LoraFiles& loras) {
  InspectOptions options;
  options.loras = loras;
  return inspect_model(kPipeline, {}, options);
}

const InspectedComponent& transformer(const InspectedModel& model) {
  for (std::size_t c = 0; c < model.graph.components.size(); ++c)
    if (model.graph.components[c].name == "transformer") return model.components[c];
  throw std::runtime_error("no transformer");
}

// The InputError a LoRA gets, its message; "" when it is taken.
std::string refusal(const LoraFiles& loras) {
  try {
    with_loras(loras);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const std::string kQ = "transformer_blocks.0.attn.to_q";  // a 32x32 Linear of the tiny transformer

}  // namespace

TEST(LoraAdapters, DiffusersAndKohyaNamingsTakeAlphaOverRankAsDiffusersDoes) {
  for (const std::string naming : {"diffusers", "kohya"}) {
    SCOPED_TRACE(naming);
    const auto model = with_loras({{kLoras + "/" + naming + "_format.safetensors", 0.5}});
    const auto& adapters = transformer(model).adapters;
    ASSERT_EQ(adapters.size(), 24u);  // 12 projection kinds in 2 blocks
    for (const auto& adapter : adapters) {
      EXPECT_EQ(adapter.rank, 4);
      EXPECT_DOUBLE_EQ(adapter.scale, 8.0 / 4 * 0.5) << "alpha 8, rank 4, --lora ...:0.5";
    }
    const auto& q = *std::find_if(adapters.begin(), adapters.end(),
                                  [](const LoraAdapter& a) { return a.weight == kQ + ".weight"; });
    EXPECT_EQ(q.down, lora_tensor_name(kQ, false, 0));
    EXPECT_EQ(q.up, lora_tensor_name(kQ, true, 0));
  }
}

TEST(LoraAdapters, ItsMatricesJoinTheUnitOfTheLinearTheyAdapt) {
  const auto plain = inspect_model(kPipeline, {}, {});
  const auto model = with_loras({{kLoras + "/diffusers_format.safetensors", 1.0}});
  const auto* before = plain.graph.find_component("transformer");
  const auto* after = model.graph.find_component("transformer");
  for (std::size_t u = 0; u < after->units.size(); ++u) {
    const Unit& unit = after->units[u];
    const bool block = unit.name.rfind("transformer_blocks.", 0) == 0;
    EXPECT_EQ(unit.tensors.size() - before->units[u].tensors.size(), block ? 24u : 0u) << unit.name;
    EXPECT_EQ(unit.bytes > before->units[u].bytes, block) << unit.name;
  }
  const auto& down = transformer(model).locations.at(lora_tensor_name(kQ, false, 0));
  EXPECT_EQ(transformer(model).source.weight_files.at(down.file).filename(), "diffusers_format.safetensors");
}

TEST(LoraAdapters, LoraAAndBWithoutMetadataTakeScaleOneAndTheirAlphaIsIgnoredAsDiffusersIgnoresIt) {
  TempDir tmp;
  const auto file = lora_file(tmp.path() / "comfy.safetensors", {{"diffusion_model." + kQ + ".lora_A.weight", {2, 32}},
                                                                 {"diffusion_model." + kQ + ".lora_B.weight", {32, 2}},
                                                                 {"diffusion_model." + kQ + ".alpha", {}, 16.0f}});
  const auto model = with_loras({{file.string(), 1.0}});
  ASSERT_EQ(transformer(model).adapters.size(), 1u);
  EXPECT_DOUBLE_EQ(transformer(model).adapters[0].scale, 1.0);
  // lora_down/lora_up with an alpha: alpha / rank.
  const auto kohya =
      lora_file(tmp.path() / "comfy-down.safetensors", {{"diffusion_model." + kQ + ".lora_down.weight", {2, 32}},
                                                        {"diffusion_model." + kQ + ".lora_up.weight", {32, 2}},
                                                        {"diffusion_model." + kQ + ".alpha", {}, 16.0f}});
  EXPECT_DOUBLE_EQ(transformer(with_loras({{kohya.string(), 1.0}})).adapters[0].scale, 8.0);
}

TEST(LoraAdapters, MetadataPatternsSetEachModulesRankAndAlpha) {
  TempDir tmp;
  const std::string k = "transformer_blocks.0.attn.to_k";
  const auto file = lora_file(tmp.path() / "patterns.safetensors",
                              {{"transformer." + kQ + ".lora_A.weight", {4, 32}},
                               {"transformer." + kQ + ".lora_B.weight", {32, 4}},
                               {"transformer." + k + ".lora_A.weight", {8, 32}},
                               {"transformer." + k + ".lora_B.weight", {32, 8}}},
                              "\"{\\\"transformer.r\\\": 4, \\\"transformer.lora_alpha\\\": 8, "
                              "\\\"transformer.rank_pattern\\\": {\\\"to_k\\\": 8}, "
                              "\\\"transformer.alpha_pattern\\\": {\\\"attn.to_k\\\": 4}}\"");
  const auto model = with_loras({{file.string(), 1.0}});
  for (const auto& adapter : transformer(model).adapters)
    EXPECT_DOUBLE_EQ(adapter.scale, adapter.weight == kQ + ".weight" ? 2.0 : 0.5) << adapter.weight;
}

TEST(LoraAdapters, ALoraForAnotherModelNamesItsKeysAndTheModelsLayers) {
  TempDir tmp;
  const auto file = lora_file(tmp.path() / "sdxl.safetensors",
                              {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", {4, 320}},
                               {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", {320, 4}}});
  const std::string message = refusal({{file.string(), 1.0}});
  EXPECT_NE(message.find("another model"), std::string::npos) << message;
  EXPECT_NE(message.find("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"), std::string::npos)
      << message;
  EXPECT_NE(message.find("transformer_blocks.0.attn"), std::string::npos) << "the model's layers: " << message;
}

TEST(LoraAdapters, EveryBadLoraIsRefusedNamingTheKey) {
  TempDir tmp;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::string what;
    std::vector<Matrix> tensors;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a shape that does not fit the Linear",
       {{kQ + ".lora_A.weight", {4, 33}}, {kQ + ".lora_B.weight", {32, 4}}},
       "it needs [4, 32]"},
      {"NaN values", {{kQ + ".lora_A.weight", {4, 32}, nan}, {kQ + ".lora_B.weight", {32, 4}}}, "NaN"},
      {"an A without its B", {{kQ + ".lora_A.weight", {4, 32}}}, "but not its up (B)"},
      {"a tensor that is no LoRA matrix",
       {{kQ + ".lora_A.weight", {4, 32}}, {kQ + ".lora_B.weight", {32, 4}}, {kQ + ".dora_scale", {32}}},
       ".dora_scale"},
      {"a key naming no Linear of the model",
       {{kQ + ".lora_A.weight", {4, 32}},
        {kQ + ".lora_B.weight", {32, 4}},
        {"transformer_blocks.7.attn.to_q.lora_A.weight", {4, 32}}},
       "transformer_blocks.7.attn.to_q.lora_A.weight"},
      {"a norm, not a Linear",
       {{"transformer_blocks.0.attn.norm_q.lora_A.weight", {4, 16}},
        {"transformer_blocks.0.attn.norm_q.lora_B.weight", {16, 4}}},
       "another model"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const auto file = lora_file(tmp.path() / "bad.safetensors", c.tensors);
    const std::string message = refusal({{file.string(), 1.0}});
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_NE(message.find(file.string()), std::string::npos) << "the file is named: " << message;
  }
  // Not safetensors at all.
  const auto text = testing::write_file(tmp.path() / "notes.safetensors", "this is a text file, not a LoRA");
  EXPECT_FALSE(refusal({{text.string(), 1.0}}).empty());
  // A rank the metadata contradicts.
  const auto wrong_rank =
      lora_file(tmp.path() / "rank.safetensors", {{kQ + ".lora_A.weight", {4, 32}}, {kQ + ".lora_B.weight", {32, 4}}},
                "\"{\\\"r\\\": 16, \\\"lora_alpha\\\": 16}\"");
  EXPECT_NE(refusal({{wrong_rank.string(), 1.0}}).find("rank 16"), std::string::npos);
}

}  // namespace vramguard
