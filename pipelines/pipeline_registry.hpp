#pragma once
// The pipelines vramguard runs, as the applications see them before anything loads (libtorch-free).
// A pipeline is one folder, pipelines/<name>/, registered by one line in pipelines/CMakeLists.txt,
// vramguard_pipeline(<name>): the folder defines pipeline_spec_<name>() (here) and
// pipeline_runner_<name>() (pipeline_runner.hpp, in the runtime library), and the lists are generated.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "edit_settings.hpp"
#include "pipeline_job.hpp"

namespace vramguard::pipelines {

struct PipelineSpec {
  std::string name;                      // its folder: "qwen_image_edit"
  std::vector<std::string> class_names;  // the model_index.json _class_name values it serves
  // An image-edit pipeline's job from `vramguard edit`'s settings, every input checked (InputError or
  // UsageError naming it); null for a pipeline that does not edit. The job is an EditInputs.
  std::unique_ptr<PipelineJob> (*prepare_edit)(const std::filesystem::path& folder,
                                               const EditSettings& settings) = nullptr;
};

// Every registered pipeline, in the order of the build lines (generated: pipeline_specs.cpp).
const std::vector<PipelineSpec>& pipeline_specs();

// The pipeline serving a diffusers folder, by its model_index.json's _class_name. InputError naming the
// folder when it has no model_index.json, or a class no pipeline serves (listing those that are).
const PipelineSpec& pipeline_spec_for(const std::filesystem::path& folder);

}  // namespace vramguard::pipelines
