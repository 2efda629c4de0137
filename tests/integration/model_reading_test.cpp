// Reading models: every layout resolves, shards are checked against their index, units come in
// forward order, tied weights count once, and synthetic architectures round-trip exactly.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/checkpoint_error.hpp"
#include "model/model_inspector.hpp"
#include "support/run_process.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"
#include "synth/checkpoint_writer.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

InspectedModel inspect(const fs::path& model, InspectOptions options = {}, const Environment& env = {}) {
  return inspect_model(model.string(), env, options);
}

fs::path synth(const TempDir& tmp, const std::string& arch, const std::string& preset, SynthWriteOptions options = {},
               bool legacy = false) {
  const fs::path out = tmp / (arch + "-" + preset + (legacy ? "-legacy" : ""));
  write_checkpoint(synthetic_architecture(arch, preset, legacy), out, options);
  return out;
}

std::vector<std::string> unit_names(const Component& component) {
  std::vector<std::string> names;
  for (const auto& unit : component.units) names.push_back(unit.name);
  return names;
}

void expect_checkpoint_error(const fs::path& model, std::initializer_list<std::string> fragments) {
  try {
    inspect(model);
    ADD_FAILURE() << "inspected a broken checkpoint";
  } catch (const CheckpointError& e) {
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ModelReading, ASingleSafetensorsFileIsOneComponent) {
  TempDir tmp;
  const auto file = write_file(
      tmp / "m.safetensors", safetensors_bytes(f32_header({{"layers.0.w", 4}, {"layers.1.w", 4}, {"head.w", 2}}), 40));
  const auto model = inspect(file);
  EXPECT_EQ(model.source.layout, "safetensors file");
  ASSERT_EQ(model.graph.components.size(), 1u);
  EXPECT_EQ(model.graph.components[0].architecture, "generic");
  EXPECT_EQ(unit_names(model.graph.components[0]), (std::vector<std::string>{"layers.0", "layers.1", "head"}));
  EXPECT_EQ(model.graph.bytes(), 40u);
  EXPECT_EQ(model.graph.parameters(), 10u);
}

TEST(ModelReading, GenericStacksAreOrderedNumerically) {
  TempDir tmp;
  const auto file = write_file(
      tmp / "m.safetensors",
      safetensors_bytes(f32_header({{"h.10.w", 1}, {"h.2.w", 1}, {"h.1.w", 1}, {"wte.weight", 1}, {"ln_f.weight", 1}}),
                        20));
  const auto model = inspect(file);
  EXPECT_EQ(unit_names(model.graph.components[0]), (std::vector<std::string>{"wte", "h.1", "h.2", "h.10", "ln_f"}));
}

TEST(ModelReading, UnitRulesRefineTheGenericDescription) {
  TempDir tmp;
  const auto file = write_file(
      tmp / "m.safetensors",
      safetensors_bytes(f32_header({{"net.head.w", 1}, {"net.stem.w", 1}, {"net.trunk.0.w", 1}, {"net.trunk.1.w", 1}}),
                        16));
  InspectOptions options;
  options.unit_rules = "embedding:net.stem, block:net.trunk., head:net.head";
  const auto model = inspect(file, options);
  EXPECT_EQ(unit_names(model.graph.components[0]),
            (std::vector<std::string>{"net.stem", "net.trunk.0", "net.trunk.1", "net.head"}));
}

TEST(ModelReading, ATransformersFolderUsesItsArchitecture) {
  TempDir tmp;
  const auto dir = synth(tmp, "qwen2", "tiny");
  const auto model = inspect(dir);
  EXPECT_EQ(model.source.layout, "transformers folder");
  const auto& component = model.graph.components[0];
  EXPECT_EQ(component.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(unit_names(component), (std::vector<std::string>{"model.embed_tokens", "model.layers.0", "model.layers.1",
                                                             "model.norm", "lm_head"}));
  EXPECT_EQ(component.units[1].kind, UnitKind::block);
  EXPECT_GT(component.units[1].flops_per_token, 0);
  EXPECT_GT(component.activation_bytes_per_token, 0);
}

TEST(ModelReading, TiedWeightsCountOnceAndShareATieGroup) {
  TempDir tmp;
  const auto untied = inspect(synth(tmp, "qwen2", "tiny"));
  const auto tied = inspect(synth(tmp, "qwen2", "tiny-tied"));
  const auto& units = tied.graph.components[0].units;
  EXPECT_EQ(units.front().name, "model.embed_tokens");
  EXPECT_EQ(units.back().name, "lm_head");
  EXPECT_FALSE(units.front().tie_group.empty());
  EXPECT_EQ(units.front().tie_group, units.back().tie_group);
  EXPECT_EQ(units.back().bytes, 0u);
  EXPECT_EQ(units.back().tensors.at(0).tied_to, "model.embed_tokens.weight");
  const std::uint64_t head_bytes = 512 * 64 * 2;  // vocab × hidden in bf16
  EXPECT_EQ(tied.graph.bytes() + head_bytes, untied.graph.bytes());
}

TEST(ModelReading, ATargetDtypeResizesFloatingTensors) {
  TempDir tmp;
  SynthWriteOptions fp32;
  fp32.dtype = DType::F32;
  const auto dir = synth(tmp, "qwen2", "tiny", fp32);
  InspectOptions to_bf16;
  to_bf16.target_dtype = DType::BF16;
  const auto stored = inspect(dir);
  const auto converted = inspect(dir, to_bf16);
  EXPECT_EQ(converted.graph.bytes() * 2, stored.graph.bytes());
  EXPECT_EQ(converted.graph.components[0].units[0].tensors[0].stored_bytes,
            stored.graph.components[0].units[0].tensors[0].bytes);
}

TEST(ModelReading, IntegerTensorsKeepTheirSizeUnderATargetDtype) {
  TempDir tmp;
  const auto file =
      write_file(tmp / "m.safetensors", safetensors_bytes(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                                                          R"("w":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
                                                          24));
  InspectOptions options;
  options.target_dtype = DType::BF16;
  EXPECT_EQ(inspect(file, options).graph.bytes(), 16u + 4u);
}

TEST(ModelReading, ShardedCheckpointsAreCheckedAgainstTheirIndex) {
  TempDir tmp;
  SynthWriteOptions small_shards;
  small_shards.max_shard_bytes = 100'000;
  const auto dir = synth(tmp, "qwen2", "tiny", small_shards);
  const auto model = inspect(dir);
  EXPECT_GT(model.components[0].source.weight_files.size(), 2u);
  EXPECT_TRUE(model.components[0].source.index_file.has_value());
  // The index itself can be the argument.
  EXPECT_EQ(inspect(dir / "model.safetensors.index.json").graph.parameters(), model.graph.parameters());
}

TEST(ModelReading, AShardMissingFromTheIndexIsNamed) {
  TempDir tmp;
  SynthWriteOptions small_shards;
  small_shards.max_shard_bytes = 100'000;
  const auto dir = synth(tmp, "qwen2", "tiny", small_shards);
  fs::path second_shard;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find("-00002-of-") != std::string::npos) second_shard = entry.path();
  ASSERT_FALSE(second_shard.empty());
  fs::remove(second_shard);
  expect_checkpoint_error(dir, {second_shard.filename().string(), "missing"});
}

TEST(ModelReading, AnIndexNamingATensorItsShardLacksIsNamed) {
  TempDir tmp;
  write_file(tmp / "m/a.safetensors", safetensors_bytes(f32_header({{"x", 1}}), 4));
  write_file(tmp / "m/model.safetensors.index.json", R"({"weight_map":{"x":"a.safetensors","y":"a.safetensors"}})");
  expect_checkpoint_error(tmp / "m", {"tensor 'y'", "does not contain it"});
}

TEST(ModelReading, ATensorInTwoShardsIsRefused) {
  TempDir tmp;
  write_file(tmp / "m/a.safetensors", safetensors_bytes(f32_header({{"x", 1}}), 4));
  write_file(tmp / "m/b.safetensors", safetensors_bytes(f32_header({{"x", 1}}), 4));
  expect_checkpoint_error(tmp / "m", {"tensor 'x'", "one shard"});
}

TEST(ModelReading, AShardTensorTheIndexDoesNotListIsRefused) {
  TempDir tmp;
  write_file(tmp / "m/a.safetensors", safetensors_bytes(f32_header({{"x", 1}, {"extra", 1}}), 8));
  write_file(tmp / "m/model.safetensors.index.json", R"({"weight_map":{"x":"a.safetensors"}})");
  expect_checkpoint_error(tmp / "m", {"tensor 'extra'", "not listed"});
}

TEST(ModelReading, AMalformedShardIsNamedWithItsTensor) {
  TempDir tmp;
  write_file(tmp / "m/a.safetensors",
             safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8));
  expect_checkpoint_error(tmp / "m", {"a.safetensors", "tensor 'w'", "negative"});
}

TEST(ModelReading, AFolderWithOnlyPicklesSaysToConvert) {
  TempDir tmp;
  write_file(tmp / "m/pytorch_model.bin", "pickle");
  try {
    inspect(tmp / "m");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pickle"), std::string::npos) << e.what();
  }
}

TEST(ModelReading, HubCacheEntriesResolveOfflineThroughRefsAndSnapshots) {
  TempDir tmp;
  const fs::path repo = tmp / "hub" / "models--acme--tiny-lm";
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), repo / "snapshots" / commit, {});
  write_file(repo / "refs" / "main", commit + "\n");
  const Environment env{{"HF_HUB_CACHE", (tmp / "hub").string()}};
  const auto model = inspect_model("acme/tiny-lm", env, {});
  EXPECT_EQ(model.source.hub_revision, commit);
  EXPECT_EQ(inspect_model("acme/tiny-lm@" + commit, env, {}).graph.parameters(), model.graph.parameters());
  const Environment home{{"HF_HOME", tmp.path().string()}};
  EXPECT_EQ(inspect_model("acme/tiny-lm", home, {}).graph.parameters(), model.graph.parameters());
}

TEST(ModelReading, AModelNotInTheCacheSaysWhereItLooked) {
  TempDir tmp;
  try {
    inspect_model("acme/absent", {{"HF_HUB_CACHE", tmp.path().string()}}, {});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((tmp / "models--acme--absent").string()), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("never downloads"), std::string::npos) << e.hint();
  }
}

TEST(ModelReading, ADiffusersPipelineListsComponentsInPipelineOrder) {
  TempDir tmp;
  const auto model = inspect(synth(tmp, "qwen-image-edit", "tiny"));
  EXPECT_EQ(model.source.layout, "diffusers pipeline");
  ASSERT_EQ(model.graph.components.size(), 3u);
  EXPECT_EQ(model.graph.components[0].name, "text_encoder");
  EXPECT_EQ(model.graph.components[1].name, "transformer");
  EXPECT_EQ(model.graph.components[2].name, "vae");
  const auto& transformer = model.graph.components[1];
  EXPECT_EQ(transformer.architecture, "QwenImageTransformer2DModel");
  EXPECT_EQ(transformer.units[4].name, "transformer_blocks.0");
  EXPECT_EQ(transformer.units.back().name, "proj_out");
  const auto& encoder = model.graph.components[0];
  EXPECT_EQ(encoder.units.front().name, "model.visual.patch_embed");
  EXPECT_EQ(encoder.units.back().name, "lm_head");
}

TEST(ModelReading, TheTextEncoderIsUnderstoodUnderLegacyNamesToo) {
  TempDir tmp;
  const auto current = inspect(synth(tmp, "qwen-image-edit", "tiny"));
  const auto legacy = inspect(synth(tmp, "qwen-image-edit", "tiny", {}, true));
  const auto& a = current.graph.components[0];
  const auto& b = legacy.graph.components[0];
  ASSERT_EQ(a.units.size(), b.units.size());
  for (std::size_t i = 0; i < a.units.size(); ++i) {
    EXPECT_EQ(a.units[i].kind, b.units[i].kind) << b.units[i].name;
    EXPECT_EQ(a.units[i].bytes, b.units[i].bytes) << b.units[i].name;
  }
  EXPECT_EQ(b.units.front().name, "visual.patch_embed");
  EXPECT_EQ(b.units[b.units.size() - 2].name, "model.norm");
}

// The synthetic architectures define their parameter counts; synth then inspect must give them exactly.
TEST(ModelReading, EverySyntheticArchitectureRoundTripsExactly) {
  for (const auto& arch : synthetic_architectures()) {
    for (const auto& preset : synthetic_presets(arch)) {
      TempDir tmp;
      const SynthModel definition = synthetic_architecture(arch, preset, false);
      const auto model = inspect(synth(tmp, arch, preset));
      ASSERT_EQ(model.graph.components.size(), definition.components.size()) << arch << "/" << preset;
      for (std::size_t c = 0; c < definition.components.size(); ++c) {
        const auto& expected = definition.components[c];
        const auto& got = *model.graph.find_component(expected.name);
        std::uint64_t stored = 0;
        for (const auto& unit : got.units)
          for (const auto& tensor : unit.tensors) stored += tensor.stored_bytes;
        EXPECT_EQ(got.tensor_count(), expected.tensors.size())
            << arch << "/" << preset;  // stored tensors; a tied head stores none
        EXPECT_EQ(got.parameters(), expected.parameters()) << arch << "/" << preset << " " << expected.name;
        EXPECT_EQ(stored, expected.parameters() * 2) << arch << "/" << preset << " " << expected.name;
      }
    }
  }
}

// The full-size pipeline has exactly the tensor names and shapes of the real model classes
// (tests/data/qwen-image-edit-tensors.json, read from diffusers and transformers on the meta device).
TEST(ModelReading, TheFullQwenImageEditPipelineMatchesTheReferenceNamesAndShapes) {
  std::ifstream in(std::string(TEST_DATA_DIR) + "/qwen-image-edit-tensors.json");
  const auto reference = nlohmann::json::parse(in);
  TempDir tmp;
  const auto model = inspect(synth(tmp, "qwen-image-edit", "full"));
  for (const auto& [name, expected] : reference.items()) {
    const Component* component = model.graph.find_component(name);
    ASSERT_NE(component, nullptr) << name;
    std::map<std::string, std::vector<std::int64_t>> got;
    for (const auto& unit : component->units)
      for (const auto& tensor : unit.tensors) {
        // A vocabulary in row slices: the stored tensor is all of its rows.
        if (tensor.first_row > 0) got[tensor.name][0] += tensor.shape[0];
        else got[tensor.name] = tensor.shape;
      }
    std::map<std::string, std::vector<std::int64_t>> want;
    for (const auto& [tensor, shape] : expected["tensors"].items())
      want[tensor] = shape.get<std::vector<std::int64_t>>();
    EXPECT_EQ(got, want) << name;
    EXPECT_EQ(component->parameters(), expected["params"].get<std::uint64_t>()) << name;
    EXPECT_EQ(component->bytes(), expected["bf16_bytes"].get<std::uint64_t>()) << name;
  }
  EXPECT_EQ(model.graph.components[1].units.size(), 4u + 60u + 2u);
}

// A dual-stream MMDiT block's arithmetic as the block does it: each token through one stream's Linears
// (3,072² for each of q, k, v and the output; 3,072 × 12,288 up and down), the modulations once a sample.
// Counting every weight for every token gave 679 MFLOP a token a block, three times the 226 it does.
TEST(ModelReading, AnMmditTokenPassesThroughOneStreamOfEachBlock) {
  TempDir tmp;
  const auto model = inspect(synth(tmp, "qwen-image-edit", "full"));
  const Component& transformer = *model.graph.find_component("transformer");
  const double one_stream = 4.0 * 3072 * 3072 + 2.0 * 3072 * 12288;
  int blocks = 0;
  for (const auto& unit : transformer.units) {
    if (unit.kind != UnitKind::block) continue;
    ++blocks;
    EXPECT_DOUBLE_EQ(unit.flops_per_token, 2 * one_stream) << unit.name;
    EXPECT_DOUBLE_EQ(unit.sequence_flops_per_token, 4.0 * 3072) << unit.name;  // the joint attention
  }
  EXPECT_EQ(blocks, 60);
}

// What an MMDiT block's passes outside its matmuls and attention move per token, as the family counts its
// GPU kernels (MmditConfig::elementwise_bytes_per_token): 28 × 3,072 elements of bf16; under fp8 matmuls
// the modulated norms' and the GELU's own passes gone, and seven widths' reads and one-byte writes added
// (the two modulated norms made as they are quantized, the output projection's input, the GELU'd hidden). The units
// that are no block move nothing the model counts, and a family that declares nothing (the text encoder) counts none.
TEST(ModelReading, AnMmditBlocksElementwisePassesAreCountedInItsComputeDtype) {
  TempDir tmp;
  const auto model = inspect(synth(tmp, "qwen-image-edit", "full"));
  for (const auto& unit : model.graph.find_component("transformer")->units) {
    const bool block = unit.kind == UnitKind::block;
    EXPECT_DOUBLE_EQ(unit.elementwise_bytes_per_token, block ? 28.0 * 3072 * 2 : 0) << unit.name;
    EXPECT_DOUBLE_EQ(unit.fp8_elementwise_bytes_per_token, block ? (28.0 * 2 - 16 * 2 + 7 * (2 + 1)) * 3072 : 0)
        << unit.name;
  }
  for (const auto& unit : model.graph.find_component("text_encoder")->units)
    EXPECT_EQ(unit.elementwise_bytes_per_token, 0) << unit.name;
}

TEST(ModelReading, RandomDataIsSeededAndReproducible) {
  TempDir tmp;
  SynthWriteOptions random;
  random.data = SynthData::random;
  random.seed = 7;
  const auto a = tmp / "a", b = tmp / "b", c = tmp / "c";
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), a, random);
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), b, random);
  random.seed = 8;
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), c, random);
  auto read = [](const fs::path& p) {
    std::ifstream in(p / "model.safetensors", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(read(a), read(b));
  EXPECT_NE(read(a), read(c));
  EXPECT_NE(read(a).find_first_not_of('\0', 4096), std::string::npos);
}

TEST(ModelReading, ZerosAreWrittenSparse) {
  TempDir tmp;
  const auto dir = synth(tmp, "qwen2", "7b");
  std::uint64_t allocated = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    struct stat st {};
    ::stat(entry.path().c_str(), &st);
    allocated += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  EXPECT_LT(allocated, 50'000'000u);                           // 15 GB of weights, almost none of it on disk
  EXPECT_EQ(inspect(dir).graph.parameters(), 7'615'616'512u);  // Qwen2.5-7B
}

TEST(ModelReading, InspectCliExitsTwoOnAMalformedFileAndNamesIt) {
  TempDir tmp;
  const auto file = write_file(tmp / "bad.safetensors",
                               safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 4));
  const auto result = run_vramguard("inspect " + shell_quote(file.string()));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("bad.safetensors"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("tensor 'w'"), std::string::npos) << result.err;
}

TEST(ModelReading, InspectCliPrintsUnitsAndJson) {
  TempDir tmp;
  const auto dir = synth(tmp, "qwen2", "tiny");
  const auto table = run_vramguard("inspect --units " + shell_quote(dir.string()));
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("model.layers.1"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("KiB"), std::string::npos) << table.out;  // a tiny model's sizes, decimal and binary, in KB
  const auto json = run_vramguard("inspect --json --dtype fp32 " + shell_quote(dir.string()));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["target_dtype"], "F32");
  EXPECT_EQ(doc["components"][0]["bytes"].get<std::uint64_t>(),
            2 * doc["components"][0]["stored_bytes"].get<std::uint64_t>());
}

TEST(ModelReading, TheGenericReaderTakesTheFinalNormBeforeTheHead) {
  // A family vramguard does not know: units in the order a forward pass takes them.
  TempDir tmp;
  const fs::path model = tmp / "mystery";
  fs::copy(fs::path(TEST_DATA_DIR) / "fixtures" / "qwen2_small" / "model", model, fs::copy_options::recursive);
  fs::permissions(model / "config.json", fs::perms::owner_write, fs::perm_options::add);
  auto config = nlohmann::json::parse(std::ifstream(model / "config.json"));
  config["architectures"] = {"MysteryForCausalLM"};
  std::ofstream(model / "config.json", std::ios::trunc) << config.dump();
  const auto result = run_vramguard("inspect --units --json " + shell_quote(model.string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto doc = nlohmann::json::parse(result.out);
  std::vector<std::string> order;
  for (const auto& unit : doc["components"][0]["unit_list"]) order.push_back(unit["name"]);
  EXPECT_EQ(order, (std::vector<std::string>{"model.embed_tokens", "model.layers.0", "model.layers.1", "model.norm",
                                             "lm_head"}));
}

TEST(ModelReading, LoadVerifiesAsManyTensorsAsSynthWroteWhenAVocabularyIsSliced) {
  TempDir tmp;
  const fs::path model = tmp / "qwen2";
  const auto wrote = run_vramguard("synth --arch qwen2 --preset tiny --out " + shell_quote(model.string()));
  ASSERT_EQ(wrote.exit_code, 0) << wrote.err;
  const auto inspected =
      nlohmann::json::parse(run_vramguard("inspect --json --slice-vocabulary 16KB " + shell_quote(model.string())).out);
  const auto tensors = inspected["components"][0]["tensors"].get<std::uint64_t>();
  const auto units = inspected["components"][0]["units"].get<std::uint64_t>();
  const auto loaded = run_vramguard("load " + shell_quote(model.string()) +
                                    " --slice-vocabulary 16KB --simulate cuda:1GB --reserve 0 --headroom 0 --json");
  ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_EQ(nlohmann::json::parse(loaded.out)["verified_tensors"].get<std::uint64_t>(), tensors);
  EXPECT_GT(units, 5u) << "the vocabulary was not sliced";
  EXPECT_NE(wrote.out.find(std::to_string(tensors) + " tensors"), std::string::npos) << wrote.out;
}
