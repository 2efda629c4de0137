#include "pipeline_registry.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/path_exists.hpp"
#include "model/json_file.hpp"

namespace vramguard::pipelines {

const PipelineSpec& pipeline_spec_for(const std::filesystem::path& folder) {
  const std::filesystem::path index = folder / "model_index.json";
  const char* const hint =
      "pass a diffusers pipeline folder (model_index.json beside its components) or its Hugging Face id";
  if (!path_exists(index))
    throw InputError(folder.string(), "has no model_index.json: it is not a diffusers pipeline folder", hint);
  const nlohmann::json doc = read_json_file(index);
  const std::string kind =
      doc.is_object() && doc.contains("_class_name") && doc["_class_name"].is_string() ? doc["_class_name"] : "";
  std::string known;
  for (const auto& spec : pipeline_specs()) {
    if (std::count(spec.class_names.begin(), spec.class_names.end(), kind)) return spec;
    for (const auto& name : spec.class_names) known += (known.empty() ? "" : ", ") + name;
  }
  throw InputError(index.string(),
                   "names the pipeline '" + (kind.empty() ? std::string("(none)") : kind) +
                       "', which vramguard does not run; it runs " + known,
                   hint);
}

}  // namespace vramguard::pipelines
