// `vramguard edit` refuses, naming the file and the key, every config value and noise that once made
// it crash, grow without bound or write an all-black picture with exit 0 (a hostile probe of the
// fixture pipeline found each). All are refused before anything loads.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "support/run_process.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fs::path(TEST_DATA_DIR) / "fixtures" / "qie_pipeline_tiny";
const std::string kSimulated = " --simulate cuda:3GB --cpu-memory 4GiB";

// A copy of the fixture's pipeline with one value of one config file set (JSON text, so that 1e308 and
// NaN-free extremes are written as given).
fs::path pipeline_copy(const TempDir& tmp) {
  const fs::path copy = tmp / "pipeline";
  fs::copy(kFixture / "pipeline", copy, fs::copy_options::recursive);
  return copy;
}

fs::path pipeline_with(const TempDir& tmp, const std::string& config, const std::string& key,
                       const std::string& value_json) {
  const fs::path copy = pipeline_copy(tmp);
  const fs::path file = copy / config;
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  auto doc = nlohmann::json::parse(std::ifstream(file));
  auto* target = &doc;
  if (config == "processor/processor_config.json" && doc.contains("image_processor")) target = &doc["image_processor"];
  (*target)[key] = nlohmann::json::parse(value_json);
  std::ofstream(file, std::ios::trunc) << doc.dump();
  return copy;
}

std::string many_falses(int count) {
  std::string list = "[";
  for (int i = 0; i < count; ++i) list += i ? ",false" : "false";
  return list + "]";
}

// A safetensors file holding one F32 tensor.
void write_f32_tensor(const std::string& file, const std::string& name, const std::vector<std::int64_t>& shape,
                      const std::vector<float>& values) {
  // Built by appending: GCC 12 at -O3 warns (falsely, -Wrestrict) on a chain of + here.
  std::string header = "{\"";
  header.append(name).append("\":{\"dtype\":\"F32\",\"shape\":[");
  for (std::size_t i = 0; i < shape.size(); ++i) header.append(i ? "," : "").append(std::to_string(shape[i]));
  header.append("],\"data_offsets\":[0,").append(std::to_string(values.size() * 4)).append("]}}");
  std::string bytes = safetensors_bytes(header, 0);
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  write_file(file, bytes);
}

std::string edit_of(const fs::path& pipeline, const TempDir& tmp, const std::string& latents) {
  return "edit " + shell_quote(pipeline.string()) + " --image " + shell_quote((kFixture / "input.png").string()) +
         " --prompt sky --steps 2 --height 256 --width 384 --latents " + shell_quote(latents) + " --output " +
         shell_quote((tmp / "out.png").string()) + kSimulated;
}

}  // namespace

TEST(EditConfigs, ValuesThatBreakTheFormulasAreRefusedByName) {
  const std::string noise = (kFixture / "inputs.safetensors").string();
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> cases = {
      // file, key, value, what the message names
      {"vae/config.json", "temperal_downsample", many_falses(31), "\"temperal_downsample\" holds 31 entries"},
      {"vae/config.json", "temperal_downsample", many_falses(32), "\"temperal_downsample\" holds 32 entries"},
      {"vae/config.json", "temperal_downsample", "[]", "\"temperal_downsample\" holds 0 entries"},
      {"vae/config.json", "temperal_downsample", "[false, true]", "\"temperal_downsample\" holds 2 entries"},
      {"vae/config.json", "z_dim", "1e10", "\"z_dim\" is 1e+10"},
      {"vae/config.json", "z_dim", "-4", "\"z_dim\" is -4"},
      {"vae/config.json", "latents_std", "[1e-300, 1, 1, 1]", "\"latents_std\" holds"},
      {"scheduler/scheduler_config.json", "num_train_timesteps", "0.5", "\"num_train_timesteps\" is 0.5"},
      {"scheduler/scheduler_config.json", "num_train_timesteps", "1e12", "\"num_train_timesteps\" is 1e+12"},
      {"scheduler/scheduler_config.json", "max_shift", "1e308", "\"max_shift\" is 1e+308"},
      {"scheduler/scheduler_config.json", "shift_terminal", "1e308", "\"shift_terminal\" is 1e+308"},
      {"scheduler/scheduler_config.json", "shift_terminal", "1.0", "\"shift_terminal\" is 1"},
      {"processor/processor_config.json", "rescale_factor", "1e308", "\"rescale_factor\" is 1e+308"},
      {"transformer/config.json", "num_layers", "1000000000", "\"num_layers\" is 1000000000 but the checkpoint holds"},
      // Config values that contradict the weights: once ignored, or run into a raw shape error.
      {"transformer/config.json", "out_channels", "8", "makes tensor proj_out.weight [32, 32]"},
      {"transformer/config.json", "num_attention_heads", "1000000000000000000", "no model's sizes or counts reach"},
      {"vae/config.json", "base_dim", "16", "makes tensor encoder.conv_in.weight [16, 3, 3, 3, 3]"},
      {"vae/config.json", "num_res_blocks", "2", "that the checkpoint does not hold"},
  };
  for (const auto& [config, key, value, named] : cases) {
    SCOPED_TRACE(config + " " + key + " = " + value.substr(0, 40));
    TempDir tmp;
    const fs::path pipeline = pipeline_with(tmp, config, key, value);
    // `timeout`: a num_layers of 10^9 once grew without bound; a refusal takes a second or two.
    const auto result = run_vramguard(edit_of(pipeline, tmp, noise), "", "timeout --preserve-status 120");
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find(named), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing: " << result.err;
  }
}

// The text encoder's layers are held to its config's shapes too (once, only their presence was checked: an
// intermediate_size that contradicted the weights ran into a raw shape error inside the forward pass).
TEST(EditConfigs, ATextEncoderConfigThatContradictsItsWeightsIsRefusedNamingTheTensor) {
  TempDir tmp;
  const fs::path pipeline = pipeline_copy(tmp);
  const fs::path file = pipeline / "text_encoder" / "config.json";
  fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
  auto doc = nlohmann::json::parse(std::ifstream(file));
  auto& text = doc.contains("text_config") ? doc["text_config"] : doc;
  text["intermediate_size"] = text["intermediate_size"].get<int>() * 2;
  std::ofstream(file, std::ios::trunc) << doc.dump();
  const auto result = run_vramguard(edit_of(pipeline, tmp, (kFixture / "inputs.safetensors").string()));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("makes tensor model.layers.0.mlp.gate_proj.weight"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing: " << result.err;
}

TEST(EditConfigs, AStaticShiftThatIsNotPositiveIsRefused) {
  for (const std::string shift : {"0", "-1"}) {
    SCOPED_TRACE(shift);
    TempDir tmp;
    const fs::path pipeline = pipeline_with(tmp, "scheduler/scheduler_config.json", "use_dynamic_shifting", "false");
    auto doc = nlohmann::json::parse(std::ifstream(pipeline / "scheduler" / "scheduler_config.json"));
    doc["shift"] = nlohmann::json::parse(shift);
    std::ofstream(pipeline / "scheduler" / "scheduler_config.json", std::ios::trunc) << doc.dump();
    const auto result = run_vramguard(edit_of(pipeline, tmp, (kFixture / "inputs.safetensors").string()));
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("\"shift\" is " + shift), std::string::npos) << result.err;
  }
}

TEST(EditConfigs, NoiseThatIsNotGaussianIsRefusedBeforeLoading) {
  // The fixture's noise is [1, 384, 16]: 256x384 pixels, 16x24 packed tokens of 4 latent channels x 2 x 2.
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1e30f}) {
    SCOPED_TRACE(bad);
    TempDir tmp;
    std::vector<float> values(384 * 16, 0.5f);
    values[17] = bad;
    const std::string noise = (tmp / "noise.safetensors").string();
    write_f32_tensor(noise, "latents", {1, 384, 16}, values);
    const auto result = run_vramguard(edit_of(kFixture / "pipeline", tmp, noise));
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("'latents' holds"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing: " << result.err;
  }
}

TEST(EditConfigs, APromptTooLongEvenAtTheLongestTokensIsRefusedBeforeTokenizing) {
  // 120 KB of one word (an argument's limit is 128 KiB): more than the encoder's 4096 positions even at
  // the fixture tokenizer's longest token (24 bytes), refused from its length alone.
  TempDir tmp;
  const std::string call = "edit " + shell_quote((kFixture / "pipeline").string()) + " --image " +
                           shell_quote((kFixture / "input.png").string()) + " --prompt " + std::string(120'000, 'x') +
                           " --steps 2 --output " + shell_quote((tmp / "out.png").string()) + kSimulated;
  const auto result = run_vramguard(call);
  EXPECT_EQ(result.exit_code, 2) << result.err.substr(0, 500);
  EXPECT_NE(result.err.find("--prompt and the image take at least"), std::string::npos) << result.err.substr(0, 500);
}

TEST(EditConfigs, AWeightOfAnotherShapeThanTheConfigMakesIsRefusedBeforeLoading) {
  // img_in.weight stored transposed ([16, 32] for [32, 16]): it loaded, then failed deep in the forward
  // pass with a raw "mat1 and mat2 shapes cannot be multiplied".
  TempDir tmp;
  const fs::path pipeline = tmp / "pipeline";
  fs::copy(kFixture / "pipeline", pipeline, fs::copy_options::recursive);
  const fs::path weights = pipeline / "transformer" / "diffusion_pytorch_model.safetensors";
  fs::permissions(weights, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes;
  {
    std::ifstream in(weights, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  auto header = nlohmann::json::parse(bytes.substr(8, length));
  auto& shape = header["img_in.weight"]["shape"];
  shape = nlohmann::json::array({shape[1], shape[0]});
  write_file(weights, safetensors_bytes(header.dump(), 0) + bytes.substr(8 + length));
  const auto result = run_vramguard(edit_of(pipeline, tmp, (kFixture / "inputs.safetensors").string()));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("makes tensor img_in.weight [32, 16]"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("holds it as [16, 32]"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing: " << result.err;
}

TEST(EditConfigs, ATokenizerThatCannotServeTheEditIsRefusedByName) {
  const std::string noise = (kFixture / "inputs.safetensors").string();
  {
    // A link that loops where tokenizer.json goes: once a raw filesystem_error, exit 1.
    TempDir tmp;
    const fs::path pipeline = tmp / "pipeline";
    fs::copy(kFixture / "pipeline", pipeline, fs::copy_options::recursive);
    fs::remove(pipeline / "tokenizer" / "tokenizer.json");
    fs::create_symlink("tokenizer.json", pipeline / "tokenizer" / "tokenizer.json");
    const auto result = run_vramguard(edit_of(pipeline, tmp, noise));
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("tokenizer.json: cannot be read"), std::string::npos) << result.err;
  }
  {
    // A tokenizer without the image placeholder token: once exit 1.
    TempDir tmp;
    const fs::path pipeline = tmp / "pipeline";
    fs::copy(kFixture / "pipeline", pipeline, fs::copy_options::recursive);
    const fs::path file = pipeline / "tokenizer" / "tokenizer.json";
    fs::permissions(file, fs::perms::owner_write, fs::perm_options::add);
    auto doc = nlohmann::json::parse(std::ifstream(file));
    auto& added = doc["added_tokens"];
    added.erase(std::remove_if(added.begin(), added.end(),
                               [](const nlohmann::json& t) { return t["content"] == "<|image_pad|>"; }),
                added.end());
    doc["model"]["vocab"].erase("<|image_pad|>");
    std::ofstream(file, std::ios::trunc) << doc.dump();
    const auto result = run_vramguard(edit_of(pipeline, tmp, noise));
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("has no <|image_pad|> token"), std::string::npos) << result.err;
  }
}
