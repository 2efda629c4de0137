#include "qwen_image_edit/edit_stage_run.hpp"

#include "core/errors.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard::pipelines {

std::pair<const runtime::ComponentDescription*, std::shared_ptr<const runtime::Architecture>> component_for(
    const runtime::ModelDescription& model, const std::string& family) {
  for (const auto& component : model.components)
    if (auto architecture = runtime::architecture_for(component); architecture && architecture->name() == family)
      return {&component, architecture};
  throw InputError(model.source, "has no component that " + family + " runs", "pass a Qwen-Image-Edit pipeline folder");
}

Stage stage_for(runtime::Session& session, const std::string& family) {
  const auto [component, architecture] = component_for(session.description(), family);
  Stage stage{component->name, architecture, c10::Device(c10::kCPU), session.dtype(component->name)};
  const auto units = session.units(component->name);
  if (!units.empty()) stage.device = units.front().device;
  return stage;
}

runtime::NamedTensors call(runtime::Session& session, const Stage& stage, const std::string& entry,
                           const runtime::NamedTensors& inputs, double* seconds, bool check) {
  const runtime::ComponentDescription& component = *session.description().find(stage.component);
  if (check) stage.architecture->check(component, entry, inputs);
  const std::uint64_t activations =
      stage.architecture->activation_bytes(component, entry, inputs, session.compute_target(stage.component)) +
      default_cost_constants().workspace_bytes;
  runtime::NamedTensors out;
  session.step(
      stage.component, [&] { out = stage.architecture->run(session, stage.component, entry, inputs); }, activations);
  if (seconds) *seconds += session.steps().back().seconds;
  return out;
}

}  // namespace vramguard::pipelines
