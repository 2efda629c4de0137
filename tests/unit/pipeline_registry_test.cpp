// Pipelines are found by their folder's model_index.json _class_name among the registered ones (one
// vramguard_pipeline() line each in pipelines/CMakeLists.txt).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/errors.hpp"
#include "pipeline_registry.hpp"
#include "support/temp_dir.hpp"

namespace vramguard::pipelines {
namespace {
using testing::TempDir;
namespace fs = std::filesystem;

const fs::path kPipeline = fs::path(TEST_DATA_DIR) / "fixtures" / "qie_pipeline_tiny" / "pipeline";

TEST(PipelineRegistry, AFolderIsServedByThePipelineItsModelIndexNames) {
  const PipelineSpec& spec = pipeline_spec_for(kPipeline);
  EXPECT_EQ(spec.name, "qwen_image_edit");
  ASSERT_NE(spec.prepare_edit, nullptr) << "the first Qwen-Image-Edit is an image edit";
  bool registered = false;
  for (const auto& each : pipeline_specs()) registered |= each.name == "qwen_image_edit";
  EXPECT_TRUE(registered);
}

TEST(PipelineRegistry, AFolderNoPipelineServesIsRefusedListingThoseThatAre) {
  TempDir tmp;
  EXPECT_THROW(pipeline_spec_for(tmp.path()), InputError);  // no model_index.json
  std::ofstream(tmp / "model_index.json") << nlohmann::json{{"_class_name", "FluxKontextPipeline"}}.dump();
  try {
    pipeline_spec_for(tmp.path());
    FAIL() << "a FluxKontextPipeline folder was served";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'FluxKontextPipeline', which vramguard does not run"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("it runs QwenImageEditPipeline"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vramguard::pipelines
