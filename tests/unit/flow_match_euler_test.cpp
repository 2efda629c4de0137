// The scheduler's schedule equals diffusers' for the edit pipeline's call (the fixture's timesteps
// and sigmas), and its config is read, not assumed.
#include <fstream>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "schedulers/flow_match_euler.hpp"
#include "support/stored_tensors.hpp"
#include "support/temp_dir.hpp"

namespace vramguard::pipelines {
namespace {
using testing::TempDir;

const std::string kPipeline = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny";

TEST(FlowMatchEuler, ScheduleEqualsDiffusersForTheFixturesEdit) {
  const auto config = FlowMatchEulerConfig::from_file(kPipeline + "/pipeline/scheduler/scheduler_config.json");
  EXPECT_TRUE(config.use_dynamic_shifting);
  EXPECT_DOUBLE_EQ(config.shift_terminal, 0.02);
  // 256x384 output: 32x48 latents, packed 2x2: 16x24 = 384 image tokens (the fixture's latents).
  const auto schedule = flow_match_schedule(config, 2, 384);
  const auto timesteps = testing::stored_tensor<float>(kPipeline + "/expected.safetensors", "timesteps");
  const auto sigmas = testing::stored_tensor<float>(kPipeline + "/expected.safetensors", "sigmas");
  ASSERT_EQ(schedule.timesteps.size(), timesteps.size());
  ASSERT_EQ(schedule.sigmas.size(), sigmas.size());
  for (std::size_t i = 0; i < timesteps.size(); ++i) EXPECT_FLOAT_EQ(schedule.timesteps[i], timesteps[i]) << i;
  for (std::size_t i = 0; i < sigmas.size(); ++i) EXPECT_FLOAT_EQ(schedule.sigmas[i], sigmas[i]) << i;
}

TEST(FlowMatchEuler, ShiftGrowsWithTheImagesSequenceLength) {
  FlowMatchEulerConfig config;
  config.use_dynamic_shifting = true;
  config.base_shift = 0.5, config.max_shift = 0.9, config.base_image_seq_len = 256, config.max_image_seq_len = 8192;
  EXPECT_DOUBLE_EQ(dynamic_shift_mu(config, 256), 0.5);
  EXPECT_DOUBLE_EQ(dynamic_shift_mu(config, 8192), 0.9);
  // A larger picture keeps more noise at the same step.
  EXPECT_GT(flow_match_schedule(config, 8, 8192).sigmas[4], flow_match_schedule(config, 8, 1024).sigmas[4]);
  const auto schedule = flow_match_schedule(config, 8, 4096);
  EXPECT_FLOAT_EQ(schedule.sigmas.front(), 1.0f);
  EXPECT_EQ(schedule.sigmas.back(), 0.0f);
  for (std::size_t i = 1; i < schedule.sigmas.size(); ++i) EXPECT_LT(schedule.sigmas[i], schedule.sigmas[i - 1]);
}

TEST(FlowMatchEuler, RefusesSchedulerOptionsItDoesNotImplementNamingThem) {
  TempDir dir;
  const std::string path = (dir.path() / "scheduler_config.json").string();
  std::ofstream(path) << R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "use_karras_sigmas": true})";
  try {
    FlowMatchEulerConfig::from_file(path);
    FAIL() << "Karras sigmas accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("use_karras_sigmas is true"), std::string::npos) << e.what();
  }
  std::ofstream(path) << R"({"_class_name": "DDIMScheduler"})";
  EXPECT_THROW(FlowMatchEulerConfig::from_file(path), InputError);
  std::ofstream(path) << R"({"shift": "large"})";
  EXPECT_THROW(FlowMatchEulerConfig::from_file(path), InputError);
  EXPECT_THROW(flow_match_schedule(FlowMatchEulerConfig{}, 0, 256), UsageError);
  // One step and a terminal shift: diffusers divides by zero there; vramguard says so instead.
  FlowMatchEulerConfig terminal;
  terminal.shift_terminal = 0.02;
  EXPECT_THROW(flow_match_schedule(terminal, 1, 256), UsageError);
  EXPECT_EQ(flow_match_schedule(terminal, 2, 256).sigmas.size(), 3u);
}

}  // namespace
}  // namespace vramguard::pipelines
