// The runtime API and the Qwen2 adapter, against transformers' own outputs (tests/data/fixtures): under
// every strategy, on simulated GPUs where the CPU computes in their place, the logits and the hidden
// states match within 1e-4 in fp32, and the executor behaves as it promises.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devices/simulated_runtime.hpp"
#include "runtime/runtime_support.hpp"
#include "session_impl.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = fixture("qwen2_small") / "model";

struct Case {
  std::string strategy;
  std::string gpus;
  std::map<std::string, std::string> options;
  std::string expected_mode;  // a mode the plan must use, so that the case runs what it names
};

struct ForwardResult {
  at::Tensor logits;
  runtime::NamedTensors captures;
};

ForwardResult forward(runtime::Session& session, const at::Tensor& ids) {
  runtime::NamedTensors out;
  const auto qwen2 = runtime::architecture_for(*session.description().find("model"));
  session.step("model", [&] {
    out = qwen2->run(session, "model", "forward", {{"input_ids", ids}}, {"hidden_after_layer_0", "final_hidden"});
  });
  return {out.at("logits"), out};
}

}  // namespace

TEST(Qwen2, MatchesTransformersUnderEveryStrategy) {
  const at::Tensor ids = load_tensor(fixture("qwen2_small") / "inputs.safetensors", "input_ids");
  const fs::path expected = fixture("qwen2_small") / "expected.safetensors";
  // 1 GB cards keep 0.36 GB past the context: everything fits. 887 MB ones keep 7 MB past the context
  // and the activations' headroom: less than the 10.5 MB of allocator pages the units take, so auto streams.
  const std::vector<Case> cases = {
      {"balanced", "cuda:1GB", {}, "resident"},
      {"auto", "cuda:1GB", {}, "resident"},
      {"sequential-offload", "cuda:1GB", {}, "streamed"},
      {"sequential-offload", "cuda:1GB", {{"prefetch", "0"}}, "streamed"},
      {"sequential-offload", "cuda:1GB", {{"prefetch", "3"}}, "streamed"},
      {"multi-gpu", "cuda:1GB,cuda:1GB", {}, "resident"},
      {"auto", "cuda:887MB", {}, "streamed"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.strategy + " on " + c.gpus);
    auto options = simulated(c.strategy, c.gpus);
    options.strategy_options = c.options;
    auto session = runtime::Session::open(kModel.string(), options);
    bool uses_mode = false;
    std::set<std::string> devices;
    for (const auto& unit : session->units("model")) {
      uses_mode = uses_mode || unit.mode == c.expected_mode;
      devices.insert(unit.mode == "cpu" ? "cpu" : unit.device.str());
    }
    EXPECT_TRUE(uses_mode) << "the plan does not use " << c.expected_mode;
    const auto result = forward(*session, ids);
    EXPECT_LT(relative_difference(result.logits, load_tensor(expected, "logits")), 1e-4);
    EXPECT_LT(
        relative_difference(result.captures.at("hidden_after_layer_0"), load_tensor(expected, "hidden_after_layer_0")),
        1e-4);
    EXPECT_LT(relative_difference(result.captures.at("final_hidden"), load_tensor(expected, "final_hidden")), 1e-4);
  }
}

TEST(Qwen2, AVocabularyInRowSlicesGivesTheSameLogits) {
  const at::Tensor ids = load_tensor(fixture("qwen2_small") / "inputs.safetensors", "input_ids");
  const fs::path expected = fixture("qwen2_small") / "expected.safetensors";
  for (const auto& [strategy, gpus] : std::vector<std::pair<std::string, std::string>>{
           {"balanced", "cuda:1GB"}, {"sequential-offload", "cuda:1GB"}, {"multi-gpu", "cuda:1GB,cuda:1GB"}}) {
    SCOPED_TRACE(strategy);
    auto options = simulated(strategy, gpus);
    options.slice_vocabulary = "20KB";  // the 76.8 KB embedding and head: 4 slices each
    auto session = runtime::Session::open(kModel.string(), options);
    std::size_t head_slices = 0, embedding_slices = 0;
    for (const auto& unit : session->units("model")) {
      head_slices += unit.slice_of == "lm_head" ? 1u : 0u;
      embedding_slices += unit.slice_of == "model.embed_tokens" ? 1u : 0u;
    }
    EXPECT_EQ(head_slices, 4u);
    EXPECT_EQ(embedding_slices, 4u);
    const auto result = forward(*session, ids);
    EXPECT_LT(relative_difference(result.logits, load_tensor(expected, "logits")), 1e-4);
    EXPECT_LT(
        relative_difference(result.captures.at("hidden_after_layer_0"), load_tensor(expected, "hidden_after_layer_0")),
        1e-4);
  }
}

TEST(Qwen2, MultiGpuSplitsTheLayersAcrossBothGpus) {
  auto session = runtime::Session::open(kModel.string(), simulated("multi-gpu", "cuda:1GB,cuda:1GB"));
  std::set<int> gpus;
  for (const auto& unit : session->units("model"))
    if (const UnitPlacement* p = session->impl().result->placement.find("model", unit.name))
      gpus.insert(p->executes_on.index);
  EXPECT_EQ(gpus, (std::set<int>{0, 1}));
}

TEST(Executor, StepsAllocateNothing) {
  auto session = runtime::Session::open(kModel.string(), simulated("sequential-offload"));
  auto* simulated_runtime = dynamic_cast<SimulatedRuntime*>(session->impl().runtime.get());
  ASSERT_NE(simulated_runtime, nullptr);
  const at::Tensor ids = load_tensor(fixture("qwen2_small") / "inputs.safetensors", "input_ids");
  forward(*session, ids);
  const std::uint64_t after_first = simulated_runtime->allocations();
  const std::uint64_t blocks = simulated_runtime->live_blocks();
  for (int i = 0; i < 5; ++i) forward(*session, ids);
  EXPECT_EQ(simulated_runtime->allocations(), after_first);
  EXPECT_EQ(simulated_runtime->live_blocks(), blocks);
  // Every step streamed the whole model through the window, and said so.
  for (const auto& step : session->steps()) EXPECT_GT(step.streamed_bytes, 0u);
}

TEST(Executor, AUnitScopeHandsOutTheUnitsTensorsAndNamesAMissingOne) {
  auto session = runtime::Session::open(kModel.string(), simulated("sequential-offload"));
  {
    runtime::UnitScope layer = session->unit("model", "model.layers.1");
    EXPECT_EQ(layer.name(), "model.layers.1");
    EXPECT_EQ(layer["self_attn.q_proj.weight"].sizes(), (std::vector<std::int64_t>{64, 64}));
    EXPECT_TRUE(layer.has("model.layers.1.mlp.up_proj.weight"));
    EXPECT_FALSE(layer.has("self_attn.q_norm.weight"));
    try {
      (void)layer["self_attn.q_norm.weight"];
      FAIL();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("model.layers.1.self_attn.q_norm.weight"), std::string::npos) << e.what();
    }
  }
  // More units held at once than the window has slots is a clear error, not a corruption.
  auto first = session->unit("model", std::size_t{1});
  auto second = session->unit("model", std::size_t{2});
  EXPECT_THROW(session->unit("model", std::size_t{3}), JobError);
}

TEST(Executor, AStepThatRunsOutOfMemoryFallsBackAndRunsAgain) {
  auto options = simulated("balanced", "cuda:2GB");
  options.settings = {{"simulate-oom-at-step", "2"}, {"fallback", "balanced,sequential-offload"}};
  auto session = runtime::Session::open(kModel.string(), options);
  const at::Tensor ids = load_tensor(fixture("qwen2_small") / "inputs.safetensors", "input_ids");
  forward(*session, ids);
  EXPECT_EQ(session->strategy(), "balanced");
  const auto result = forward(*session, ids);  // the second step runs out of memory once
  EXPECT_EQ(session->strategy(), "sequential-offload");
  EXPECT_LT(relative_difference(result.logits, load_tensor(fixture("qwen2_small") / "expected.safetensors", "logits")),
            1e-4);
  const auto report = nlohmann::json::parse(session->report_json());
  ASSERT_EQ(report["attempts"].size(), 2u);
  EXPECT_NE(report["attempts"][0]["outcome"].get<std::string>().find("injected at step 2"), std::string::npos);
  EXPECT_TRUE(report["attempts"][0]["leaked_bytes"].empty());
}

TEST(Qwen2, Bf16StaysCloseToFp32) {
  // The tolerance docs/running-a-model.md gives for bf16, measured here on the CPU.
  auto options = simulated("auto");
  options.dtype = "bf16";
  auto session = runtime::Session::open(kModel.string(), options);
  const at::Tensor ids = load_tensor(fixture("qwen2_small") / "inputs.safetensors", "input_ids");
  const auto result = forward(*session, ids);
  EXPECT_EQ(result.logits.scalar_type(), at::kBFloat16);
  EXPECT_LT(relative_difference(result.logits, load_tensor(fixture("qwen2_small") / "expected.safetensors", "logits")),
            3e-2);
}

TEST(Qwen2, BadInputIsRefusedBeforeItRuns) {
  auto session = runtime::Session::open(kModel.string(), simulated("auto"));
  const auto& model = *session->description().find("model");
  const auto qwen2 = runtime::architecture_for(model);
  ASSERT_NE(qwen2, nullptr);
  EXPECT_EQ(qwen2->name(), "qwen2");
  auto check = [&](const at::Tensor& ids) { qwen2->check(model, "forward", {{"input_ids", ids}}); };
  EXPECT_THROW(check(at::full({1, 4}, 300, at::kLong)), InputError);  // vocabulary is 300
  EXPECT_THROW(check(at::full({1, 4}, -1, at::kLong)), InputError);
  EXPECT_THROW(check(at::zeros({1, 129}, at::kLong)), InputError);  // 128 positions
  EXPECT_THROW(check(at::zeros({0, 3}, at::kLong)), InputError);    // nothing to run
  EXPECT_THROW(check(at::zeros({1, 4}, at::kFloat)), InputError);   // ids are integers
  EXPECT_THROW(qwen2->check(model, "forward", {}), InputError);     // input_ids missing
  EXPECT_THROW(
      qwen2->check(model, "forward", {{"input_ids", at::zeros({1, 4}, at::kLong)}, {"pixel_values", at::zeros({1})}}),
      InputError);  // not an input of qwen2
  EXPECT_THROW(qwen2->check(model, "decode", {{"input_ids", at::zeros({1, 4}, at::kLong)}}),
               InputError);  // no such entry
  EXPECT_NO_THROW(check(at::zeros({3, 128}, at::kLong)));
}

// ---- vramguard run, as a user runs it ------------------------------------------------------------
