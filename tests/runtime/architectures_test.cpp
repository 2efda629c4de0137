// The families in architectures/ against their libraries' own outputs (tests/data/fixtures): every
// entry point, under every strategy, with budgets small enough that units stream, on simulated GPUs
// where the CPU computes in their place. fp32 within each case's tolerance (1e-4).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "core/errors.hpp"
#include "runtime/runtime_support.hpp"
#include "model/safetensors_header.hpp"
#include "qwenimage_vae/qwenimage_vae_config.hpp"
#include "support/model_copy.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  std::string name;   // folder under tests/data/fixtures
  std::string entry;  // the entry point to run
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;  // each compared with the fixture's expected tensor of that name
  std::vector<std::string> captures;
};

const std::vector<Fixture> kFixtures = {
    {"qwenimage_tiny",
     "forward",
     {"hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask", "timestep", "img_shapes"},
     {"sample", "block0_hidden", "block0_encoder"},
     {"block0_hidden", "block0_encoder"}},
    {"qwenimage_vae_tiny", "encode", {"image"}, {"encoded_mean"}, {}},
    {"qwenimage_vae_tiny", "decode", {"latents"}, {"decoded"}, {}},
    {"qwen25vl_tiny",
     "forward",
     {"input_ids", "attention_mask", "pixel_values", "image_grid_thw"},
     {"last_hidden_state", "logits", "image_embeds", "hidden_after_layer_0"},
     {"image_embeds", "hidden_after_layer_0"}},
};

std::string model_of(const Fixture& f) { return (fixture(f.name) / "model").string(); }

runtime::NamedTensors inputs_of(const Fixture& f) {
  runtime::NamedTensors inputs;
  for (const auto& name : f.inputs) inputs[name] = load_tensor(fixture(f.name) / "inputs.safetensors", name);
  return inputs;
}

runtime::NamedTensors run(runtime::Session& session, const Fixture& f, std::uint64_t activation_bytes = 0) {
  const auto architecture = runtime::architecture_for(*session.description().find("model"));
  const auto inputs = inputs_of(f);
  architecture->check(*session.description().find("model"), f.entry, inputs);
  if (activation_bytes == 0)
    activation_bytes = architecture->activation_bytes(*session.description().find("model"), f.entry, inputs,
                                                      session.compute_target("model"));
  runtime::NamedTensors out;
  session.step(
      "model", [&] { out = architecture->run(session, "model", f.entry, inputs, f.captures); }, activation_bytes);
  return out;
}

void expect_matches(const runtime::NamedTensors& out, const Fixture& f, double tolerance) {
  for (const auto& name : f.outputs) {
    ASSERT_TRUE(out.count(name)) << f.entry << " returned no " << name;
    EXPECT_LT(relative_difference(out.at(name), load_tensor(fixture(f.name) / "expected.safetensors", name)), tolerance)
        << name;
  }
}

// The activation bytes the entry predicts for the fixture's inputs: kept as the plan's headroom, so
// that the budgets below decide only where the weights go.
std::uint64_t activation_bytes_of(const Fixture& f) {
  auto session = runtime::Session::open(model_of(f), simulated("balanced"));
  const auto architecture = runtime::architecture_for(*session->description().find("model"));
  return architecture->activation_bytes(*session->description().find("model"), f.entry, inputs_of(f),
                                        session->compute_target("model"));
}

std::map<std::string, int> modes_of(const std::string& model, const runtime::Options& options) {
  const auto plan = nlohmann::json::parse(runtime::plan(model, options).json);
  std::map<std::string, int> modes;
  for (const auto& unit : plan["units"]) ++modes[unit["mode"].get<std::string>()];
  return modes;
}

// The largest simulated GPU on which `auto` keeps some units resident and streams the others, found
// from the plans: the case then runs both paths of the executor in one pass.
std::string mixed_gpu_for(const Fixture& f, std::uint64_t headroom) {
  for (int megabytes = 1000; megabytes > 600; --megabytes) {
    auto options = simulated("auto", "cuda:" + std::to_string(megabytes) + "MB");
    options.headroom = std::to_string(headroom);
    try {
      const auto modes = modes_of(model_of(f), options);
      if (modes.count("resident") && modes.count("streamed")) return "cuda:" + std::to_string(megabytes) + "MB";
    } catch (const JobError&) {
      break;  // past the point where anything fits
    }
  }
  ADD_FAILURE() << "no budget makes auto both keep and stream units of " << f.name;
  return "cuda:1GB";
}

}  // namespace

TEST(Architectures, EachFixtureMatchesItsLibraryUnderEveryStrategy) {
  for (const auto& f : kFixtures) {
    const std::uint64_t headroom = activation_bytes_of(f);
    struct Case {
      std::string strategy, gpus;
      std::map<std::string, std::string> options;
      std::string expected_mode;
    };
    const std::vector<Case> cases = {
        {"balanced", "cuda:1GB", {}, "resident"},
        {"auto", mixed_gpu_for(f, headroom), {}, "streamed"},
        {"sequential-offload", "cuda:1GB", {{"prefetch", "0"}}, "streamed"},
        {"sequential-offload", "cuda:1GB", {{"prefetch", "1"}}, "streamed"},
        {"sequential-offload", "cuda:1GB", {{"prefetch", "3"}}, "streamed"},
        {"multi-gpu", "cuda:1GB,cuda:1GB", {}, "resident"},
    };
    for (const auto& c : cases) {
      SCOPED_TRACE(f.name + " " + f.entry + ": " + c.strategy + " on " + c.gpus);
      auto options = simulated(c.strategy, c.gpus);
      options.headroom = std::to_string(headroom);
      options.strategy_options = c.options;
      auto session = runtime::Session::open(model_of(f), options);
      bool uses_mode = false;
      for (const auto& unit : session->units("model")) uses_mode = uses_mode || unit.mode == c.expected_mode;
      EXPECT_TRUE(uses_mode) << "the plan does not use " << c.expected_mode;
      expect_matches(run(*session, f, headroom), f, 1e-4);
      EXPECT_EQ(session->generation(), 1u) << "the step fell back: the case did not run the strategy it names";
      // Twice: a second call through the same window slots gives the same answer.
      expect_matches(run(*session, f, headroom), f, 1e-4);
    }
  }
}

// The transformer's q/k norm and rotary, op by op, hold float32 copies of the queries and keys; on a
// real GPU this build's kernel makes them without (architectures/common/head_norm_rotary.hpp). A step's
// prediction counts the copies only where the ops run: on a simulated GPU's CPU, or a build without the
// kernel. Counted on a GPU they put the plan's peak ~5 % above what NVML read under the cap.
TEST(Architectures, TheTransformersFloat32QueriesAndKeysAreCountedOnlyWhereTheOpsRunThem) {
  const Fixture& f = kFixtures.front();
  ASSERT_EQ(f.name, "qwenimage_tiny");
  const auto inputs = inputs_of(f);
  const auto bytes_on = [&](runtime::Session& session) {
    const auto& component = *session.description().find("model");
    return runtime::architecture_for(component)->activation_bytes(component, f.entry, inputs,
                                                                  session.compute_target("model"));
  };
  auto simulated_session = runtime::Session::open(model_of(f), simulated("balanced"));
  EXPECT_FALSE(simulated_session->compute_target("model").fused_kernels) << "a simulated GPU's CPU runs the ops";
  const std::uint64_t op_by_op = bytes_on(*simulated_session);
  if (!at::hasCUDA() || !runtime::compute_target(at::kFloat, true).fused_kernels)
    GTEST_SKIP() << "no GPU, or no fused kernels in this build: the ops run everywhere";
  runtime::Options on_the_gpu;
  on_the_gpu.strategy = "balanced";
  auto gpu_session = runtime::Session::open(model_of(f), on_the_gpu);
  ASSERT_TRUE(gpu_session->compute_target("model").fused_kernels);
  const nlohmann::json& config = *gpu_session->config("model");
  const auto width =
      config["num_attention_heads"].get<std::int64_t>() * config["attention_head_dim"].get<std::int64_t>();
  const std::int64_t tokens = inputs.at("hidden_states").size(1) + inputs.at("encoder_hidden_states").size(1);
  const std::int64_t float32_copies = inputs.at("hidden_states").size(0) * tokens * 2 * width * 4;
  EXPECT_EQ(op_by_op - bytes_on(*gpu_session), static_cast<std::uint64_t>(float32_copies));
}

// Qwen-Image's VAE on a whole 1024x1024 picture in bf16: the native VAE's peak measured on an H200 was
// 1.70 GB for encode and 1.69 GB for decode, 0.25 GB of it weights. The count follows the full-resolution
// residual blocks (96 channels, 14 bytes each), not the up-sampler's doubled 192, which made it 2.82 GB.
TEST(Architectures, TheVaeIsCountedAtWhatItsFullResolutionBlocksHold) {
  const nlohmann::json config = {{"base_dim", 96},
                                 {"z_dim", 16},
                                 {"dim_mult", {1, 2, 4, 4}},
                                 {"num_res_blocks", 2},
                                 {"temperal_downsample", {false, true, true}}};
  const VaeConfig vae = read_vae_config(config, "vae/config.json");
  EXPECT_DOUBLE_EQ(vae.activation_bytes_per_pixel(2), 96 * 14);
  const double measured_bytes = 1.44e9, picture_pixels = 1024.0 * 1024.0;
  EXPECT_NEAR(vae.activation_bytes_per_pixel(2) * picture_pixels, measured_bytes, 0.05 * measured_bytes);
  // Where the decoder's first block at a level takes in more channels than the level keeps (an up-sampler
  // halving 8 × 64 into a level of 16), the block is counted over what it takes in.
  const VaeConfig narrowing = read_vae_config(
      {{"base_dim", 16}, {"z_dim", 4}, {"dim_mult", {1, 64}}, {"temperal_downsample", {false}}}, "vae/config.json");
  EXPECT_DOUBLE_EQ(narrowing.activation_bytes_per_pixel(2), 16 * 64 / 2 * 14);
}

// Where every MLP's down-projection is an fp8 matmul, its input — the GELU of the 4x hidden layer — is
// held as fp8 rows (one byte an element, the GELU applied as they are quantized) instead of in the
// compute dtype; one stream's MLP in bf16 keeps the whole count (ComputeTarget::fp8_matmul_weights).
TEST(Architectures, TheMlpsGeluIsCountedInFp8OnlyWhereEveryDownProjectionIsAnFp8Matmul) {
  const Fixture& f = kFixtures.front();
  ASSERT_EQ(f.name, "qwenimage_tiny");
  const auto inputs = inputs_of(f);
  auto session = runtime::Session::open(model_of(f), simulated("balanced"));
  const auto& component = *session->description().find("model");
  const auto family = runtime::architecture_for(component);
  std::set<std::string> downs, image_downs;
  for (const auto& unit : component.units)
    for (const auto& tensor : unit.tensors)
      if (tensor.name.find("mlp.net.2.weight") != std::string::npos) {
        downs.insert(tensor.name);
        if (tensor.name.find("img_mlp") != std::string::npos) image_downs.insert(tensor.name);
      }
  ASSERT_FALSE(image_downs.empty());
  ASSERT_GT(downs.size(), image_downs.size());
  const auto bytes = [&](bool fused, std::set<std::string> fp8) {
    return family->activation_bytes(component, f.entry, inputs, {at::kBFloat16, fused, std::move(fp8)});
  };
  const nlohmann::json& config = *session->config("model");
  const auto width =
      config["num_attention_heads"].get<std::int64_t>() * config["attention_head_dim"].get<std::int64_t>();
  const std::int64_t tokens = inputs.at("hidden_states").size(1) + inputs.at("encoder_hidden_states").size(1);
  const auto gelu_in_bf16_less_fp8 =
      static_cast<std::uint64_t>(inputs.at("hidden_states").size(0) * tokens * 4 * width * (2 - 1));
  EXPECT_EQ(bytes(true, {}) - bytes(true, downs), gelu_in_bf16_less_fp8);
  EXPECT_EQ(bytes(true, image_downs), bytes(true, {})) << "the text stream's MLP still makes its GELU in bf16";
  EXPECT_EQ(bytes(false, downs), bytes(false, {})) << "without the kernel the GELU is an op of its own";
}

TEST(Architectures, Bf16StaysCloseToFp32) {
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(f.name + " " + f.entry);
    auto options = simulated("sequential-offload");
    options.dtype = "bf16";
    auto session = runtime::Session::open(model_of(f), options);
    const auto out = run(*session, f);
    EXPECT_EQ(out.at(f.outputs.front()).scalar_type(), at::kBFloat16);
    expect_matches(out, f, 5e-2);
  }
}

TEST(Architectures, EachComponentFindsItsFamily) {
  const std::map<std::string, std::string> expected = {{"qwen2_small", "qwen2"},
                                                       {"qwen25vl_tiny", "qwen2_5_vl"},
                                                       {"qwenimage_tiny", "qwenimage_transformer"},
                                                       {"qwenimage_vae_tiny", "qwenimage_vae"}};
  for (const auto& [folder, family] : expected) {
    auto session = runtime::Session::open((fixture(folder) / "model").string(), simulated("balanced"));
    const auto architecture = runtime::architecture_for(*session->description().find("model"));
    ASSERT_NE(architecture, nullptr) << folder;
    EXPECT_EQ(architecture->name(), family);
    // Seeded example inputs pass the family's own checks.
    for (const auto& entry : architecture->entries()) {
      runtime::WorkloadShape shape;
      shape.tokens = 7;
      shape.height = 64;
      shape.width = 96;
      EXPECT_NO_THROW(
          architecture->check(*session->description().find("model"), entry.name,
                              architecture->example_inputs(*session->description().find("model"), entry.name, shape)))
          << family << " " << entry.name;
    }
  }
}

TEST(Architectures, TheTransformerRefusesInputsThatDoNotFitItsConfig) {
  const Fixture& f = kFixtures[0];
  auto session = runtime::Session::open(model_of(f), simulated("balanced"));
  const auto& model = *session->description().find("model");
  const auto transformer = runtime::architecture_for(model);
  auto refused = [&](runtime::NamedTensors inputs, const std::string& named) {
    try {
      transformer->check(model, "forward", inputs);
      ADD_FAILURE() << "accepted inputs with a bad " << named;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    }
  };
  auto inputs = inputs_of(f);
  EXPECT_NO_THROW(transformer->check(model, "forward", inputs));
  auto bad = inputs;
  bad["img_shapes"] = at::tensor(std::vector<std::int64_t>{1, 4, 6, 1, 4, 5}).view({2, 3});  // 44 tokens, not 48
  refused(bad, "hidden_states");
  bad = inputs;
  bad["encoder_hidden_states"] = at::zeros({1, 7, 25});  // joint_attention_dim is 24
  refused(bad, "encoder_hidden_states");
  bad = inputs;
  bad["encoder_hidden_states_mask"] = at::ones({1, 6}, at::kLong);
  refused(bad, "encoder_hidden_states_mask");
  bad = inputs;
  bad.erase("timestep");
  refused(bad, "timestep");
  bad = inputs;
  bad["guidance"] = at::ones({1});
  refused(bad, "guidance");
  bad = inputs;
  bad["img_shapes"] = at::ones({2, 3});  // sizes are integers
  refused(bad, "img_shapes");
}

TEST(Architectures, TheVaeRefusesVideosAndSizesItsLatentsCannotHold) {
  auto session = runtime::Session::open(model_of(kFixtures[1]), simulated("balanced"));
  const auto& model = *session->description().find("model");
  const auto vae = runtime::architecture_for(model);
  EXPECT_THROW(vae->check(model, "encode", {{"image", at::zeros({1, 3, 2, 32, 32})}}), InputError);  // two frames
  EXPECT_THROW(vae->check(model, "encode", {{"image", at::zeros({1, 3, 1, 33, 32})}}),
               InputError);  // not a multiple of 2
  EXPECT_THROW(vae->check(model, "encode", {{"image", at::zeros({1, 4, 1, 32, 32})}}), InputError);   // 3 channels
  EXPECT_THROW(vae->check(model, "decode", {{"latents", at::zeros({1, 16, 1, 8, 8})}}), InputError);  // z_dim is 4
  EXPECT_THROW(vae->check(model, "decode", {{"image", at::zeros({1, 3, 1, 32, 32})}}),
               InputError);  // decode takes latents
  EXPECT_THROW(vae->entry("forward"), InputError);
  EXPECT_NO_THROW(vae->check(model, "decode", {{"latents", at::zeros({1, 4, 1, 8, 8})}}));
}

TEST(Architectures, AConfigForAVariantTheTransformerDoesNotImplementIsRefusedByName) {
  TempDir tmp;
  // (zero_cond_t, Edit-2511's, runs: tests/runtime/edit_plus_pipeline_test.cpp)
  ASSERT_TRUE(copy_with_config_edit(fixture("qwenimage_tiny") / "model", tmp / "model",
                                    "\"use_additional_t_cond\": false", "\"use_additional_t_cond\": true"));
  auto session = runtime::Session::open((tmp / "model").string(), simulated("balanced"));
  const auto& model = *session->description().find("model");
  try {
    runtime::architecture_for(model)->check(model, "forward", inputs_of(kFixtures[0]));
    ADD_FAILURE() << "a use_additional_t_cond model was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("use_additional_t_cond"), std::string::npos) << e.what();
  }
}

namespace {

// A copy of a fixture's model whose safetensors names are rewritten (prefix → replacement).
fs::path renamed_copy(const TempDir& tmp, const std::string& fixture_name,
                      const std::vector<std::pair<std::string, std::string>>& renames) {
  const fs::path folder = tmp / (fixture_name + "-renamed");
  fs::copy(fixture(fixture_name) / "model", folder, fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(folder))
    fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
  const fs::path weights = folder / "model.safetensors";
  const SafetensorsHeader header = read_safetensors_header(weights.string());
  std::ifstream in(weights, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto original = nlohmann::json::parse(bytes.substr(8, header.header_bytes));
  nlohmann::json renamed = nlohmann::json::object();
  for (const auto& [name, value] : original.items()) {
    std::string new_name = name;
    for (const auto& [prefix, replacement] : renames)
      if (name.rfind(prefix, 0) == 0) {
        new_name = replacement + name.substr(prefix.size());
        break;
      }
    renamed[new_name] = value;
  }
  std::string text = renamed.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as writers do
  std::string rebuilt(8, '\0');
  for (int i = 0; i < 8; ++i) rebuilt[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  rebuilt += text + bytes.substr(header.data_offset);
  std::ofstream(weights, std::ios::binary | std::ios::trunc) << rebuilt;
  return folder;
}

}  // namespace

TEST(Architectures, Qwen25VlReadsTransformers5NamesAsItReadsTheOlderOnes) {
  // The fixture was saved with the older names (model.layers.*, visual.*); transformers 5 names the
  // same tensors model.language_model.* and model.visual.*.
  TempDir tmp;
  const fs::path renamed =
      renamed_copy(tmp, "qwen25vl_tiny", {{"model.", "model.language_model."}, {"visual.", "model.visual."}});
  const Fixture& f = kFixtures[3];
  auto session = runtime::Session::open(renamed.string(), simulated("sequential-offload"));
  bool new_names = false;
  for (const auto& unit : session->units("model"))
    new_names = new_names || unit.name.rfind("model.visual.blocks.", 0) == 0;
  EXPECT_TRUE(new_names);
  expect_matches(run(*session, f), f, 1e-4);
}

TEST(Architectures, Qwen25VlFindsItsLayersWhenItsVocabularyIsStoredInSlices) {
  // A full-size vocabulary (152,064 rows) is split into row slices, so no unit bears the embedding's
  // own name: the family must still tell the two namings apart.
  TempDir tmp;
  const Fixture& f = kFixtures[3];
  for (const fs::path& model :
       {fs::path(model_of(f)),
        renamed_copy(tmp, "qwen25vl_tiny", {{"model.", "model.language_model."}, {"visual.", "model.visual."}})}) {
    SCOPED_TRACE(model.string());
    auto options = simulated("sequential-offload");
    options.slice_vocabulary = "4KB";
    auto session = runtime::Session::open(model.string(), options);
    int embedding_slices = 0;
    for (const auto& unit : session->units("model"))
      embedding_slices += unit.slice_of.find("embed_tokens") != std::string::npos;
    EXPECT_GT(embedding_slices, 1);
    expect_matches(run(*session, f), f, 1e-4);
  }
}

TEST(Architectures, Qwen25VlRefusesImagesItsInputsDoNotDescribe) {
  const Fixture& f = kFixtures[3];
  auto session = runtime::Session::open(model_of(f), simulated("balanced"));
  const auto& model = *session->description().find("model");
  const auto vl = runtime::architecture_for(model);
  const auto inputs = inputs_of(f);
  EXPECT_NO_THROW(vl->check(model, "forward", inputs));
  auto bad = inputs;
  bad.erase("pixel_values");
  EXPECT_THROW(vl->check(model, "forward", bad), InputError);  // image tokens without an image
  bad = inputs;
  bad["image_grid_thw"] = at::tensor(std::vector<std::int64_t>{1, 8, 8}).view({1, 3});  // 64 patches, not 96
  EXPECT_THROW(vl->check(model, "forward", bad), InputError);
  bad = inputs;
  bad["pixel_values"] = at::zeros({96, 1000});  // 3 x 2 x 14 x 14 values per patch
  EXPECT_THROW(vl->check(model, "forward", bad), InputError);
  bad = inputs;
  bad["input_ids"] = inputs.at("input_ids").clone();
  bad["input_ids"][0][10] = 7;  // one image token fewer than the grid's 24 embeddings
  EXPECT_THROW(vl->check(model, "forward", bad), InputError);
  bad = inputs;
  bad["mm_token_type_ids"] = at::zeros_like(inputs.at("input_ids"));  // marks no image tokens
  EXPECT_THROW(vl->check(model, "forward", bad), InputError);
}

TEST(Architectures, AfterTheFirstStepEveryStreamedUnitIsPrefetched) {
  // A family that takes its units out of the order the executor learned makes each copy wait alone:
  // the step then costs compute plus copy instead of the larger of the two.
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(f.name + " " + f.entry);
    for (const std::string prefetch : {"1", "2"}) {
      auto options = simulated("sequential-offload");
      options.strategy_options = {{"prefetch", prefetch}};
      auto session = runtime::Session::open(model_of(f), options);
      for (int step = 0; step < 3; ++step) run(*session, f);
      ASSERT_EQ(session->steps().size(), 3u);
      for (std::size_t s = 1; s < 3; ++s) {
        EXPECT_EQ(session->steps()[s].unprefetched_units, 0u) << "step " << s << ", prefetch " << prefetch;
      }
    }
  }
}
