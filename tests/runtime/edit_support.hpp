#pragma once
// What the edit pipelines' tests share: the simulated GPUs every strategy runs an edit on, and how
// far a result is from the fixture's.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "edit_settings.hpp"
#include "runtime/runtime_support.hpp"

namespace vramguard::testing {

// The VAE encodes each picture at ~1024² pixels (1.2 GB of activations in fp32): the plan keeps room
// for that on each GPU.
inline runtime::Options edit_options(const std::string& strategy, const std::string& gpus) {
  auto options = simulated(strategy, gpus);
  options.headroom = "1300MB";
  return options;
}

// How many units of each mode the plan of `pipeline` under `options` has.
inline std::map<std::string, int> plan_modes(const std::string& pipeline, const runtime::Options& options) {
  const auto plan = nlohmann::json::parse(runtime::plan(pipeline, options).json);
  std::map<std::string, int> modes;
  for (const auto& unit : plan["units"]) ++modes[unit["mode"].get<std::string>()];
  return modes;
}

// A simulated GPU on which auto keeps some units of `pipeline` and streams the others: just under the
// smallest one that keeps everything, found by bisection over the plans.
inline std::string mixed_gpu(const std::string& pipeline) {
  int low = 1300, high = 4000;
  auto modes_on = [&](int megabytes) {
    try {
      return plan_modes(pipeline, edit_options("auto", "cuda:" + std::to_string(megabytes) + "MB"));
    } catch (const JobError&) {
      return std::map<std::string, int>{{"nothing fits", 1}};
    }
  };
  while (high - low > 1) {
    const int mid = (low + high) / 2;
    const auto modes = modes_on(mid);
    (modes.size() == 1 && modes.count("resident") ? high : low) = mid;
  }
  for (int mb = high - 1; mb > high - 8; --mb) {
    const auto modes = modes_on(mb);
    if (modes.count("resident") && modes.count("streamed")) return "cuda:" + std::to_string(mb) + "MB";
  }
  ADD_FAILURE() << "no budget makes auto both keep and stream units of the pipeline";
  return "cuda:1GB";
}

// Every built-in strategy, on GPUs that make it place units the way it is named for.
struct StrategyCase {
  std::string strategy, gpus;
  std::map<std::string, std::string> options;
  std::string expected_mode;  // a mode the plan must use
};
inline std::vector<StrategyCase> every_strategy(const std::string& pipeline) {
  return {
      {"balanced", "cuda:3GB", {}, "resident"},
      {"auto", mixed_gpu(pipeline), {}, "streamed"},
      {"sequential-offload", "cuda:3GB", {{"prefetch", "1"}}, "streamed"},
      {"multi-gpu", "cuda:3GB,cuda:3GB", {}, "resident"},
  };
}

inline bool plan_uses(const runtime::Session& session, const std::string& mode) {
  for (const auto& component : session.components())
    for (const auto& unit : session.units(component))
      if (unit.mode == mode) return true;
  return false;
}

// The strategies a TEST_P runs an edit under, one test each (so that ctest runs them side by side), and
// the test names they make ("sequential_offload").
inline const auto kEveryStrategyName = ::testing::Values("balanced", "auto", "sequential-offload", "multi-gpu");
inline std::string strategy_test_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

// The call the tiny edit's fixtures were made with (qie_pipeline_tiny, and the LoRA and fp8 fixtures
// made from it): pipe(image=input.png, prompt="make the sky stormy", negative_prompt=" ",
// true_cfg_scale=4.0, num_inference_steps=2, height=256, width=384, latents=inputs["latents"]), the VAE
// on the whole picture as diffusers by default.
inline pipelines::EditSettings tiny_edit_call() {
  const std::filesystem::path base = fixture("qie_pipeline_tiny");
  pipelines::EditSettings s;
  s.images = {base / "input.png"};
  s.prompt = "make the sky stormy";
  s.negative_prompt = " ";
  s.true_cfg_scale = 4.0;
  s.steps = 2;
  s.height = 256;
  s.width = 384;
  s.latents = base / "inputs.safetensors";
  s.vae_tiling = pipelines::VaeTilingMode::never;
  return s;
}

inline double largest_difference(const std::vector<float>& got, const at::Tensor& expected) {
  const at::Tensor g =
      at::from_blob(const_cast<float*>(got.data()), {static_cast<std::int64_t>(got.size())}, at::kFloat);
  return (g - expected.reshape({-1}).to(at::kFloat)).abs().max().item<double>();
}

}  // namespace vramguard::testing
