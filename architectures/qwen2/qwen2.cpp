// Qwen2 and Qwen2.5 language models (transformers' Qwen2ForCausalLM): token ids in, logits out.
#include <ATen/Functions.h>

#include <algorithm>
#include <random>

#include "common/named_inputs.hpp"
#include "common/per_device.hpp"
#include "core/errors.hpp"
#include "vramguard/runtime/architecture.hpp"
#include "qwen2/qwen2_decoder.hpp"
#include "qwen2/qwen2_layout.hpp"

namespace vramguard::runtime {
namespace {

using namespace qwen2;

constexpr std::int64_t kDefaultTokens = 128;

class Qwen2Architecture final : public Architecture {
 public:
  std::string name() const override { return "qwen2"; }

  // Qwen2.5-VL's language model runs as qwen2_5_vl, with or without an image.
  bool handles(const ComponentDescription& component) const override {
    return has_class(component, "Qwen2ForCausalLM");
  }

  std::vector<EntryPoint> entries() const override {
    return {{"forward",
             {"input_ids"},
             {},
             {"logits"},
             {"hidden_after_layer_0", "final_hidden"},
             "token ids [batch, tokens] (int64) -> logits [batch, tokens, vocabulary]"}};
  }

  void check(const ComponentDescription& c, const std::string& entry_name, const NamedTensors& inputs) const override {
    check_input_names(name(), entry(entry_name), inputs);
    const Layout l = layout_of(c, "Qwen2");
    check_weights(c, l, qwen2_component(l).tensors);
    const at::Tensor& input_ids = integer_input(inputs, "input_ids", 2);
    if (input_ids.size(1) > l.positions)
      throw InputError("input 'input_ids'", std::to_string(input_ids.size(1)) + " tokens are more than the model's " +
                                                std::to_string(l.positions) + " positions (max_position_embeddings)");
    const auto ids = input_ids.to(at::kLong);
    const auto lowest = ids.min().item<std::int64_t>(), highest = ids.max().item<std::int64_t>();
    if (lowest < 0 || highest >= l.vocab)
      throw InputError("input 'input_ids'", "token id " + std::to_string(lowest < 0 ? lowest : highest) +
                                                " is outside the vocabulary of " + std::to_string(l.vocab) +
                                                " (ids 0.." + std::to_string(l.vocab - 1) + ")");
  }

  NamedTensors example_inputs(const ComponentDescription& c, const std::string& entry_name,
                              const WorkloadShape& shape) const override {
    entry(entry_name);
    const Layout l = layout_of(c, "Qwen2");
    const auto tokens = static_cast<std::int64_t>(shape.tokens > 0 ? shape.tokens : kDefaultTokens);
    const auto batch = static_cast<std::int64_t>(std::max<std::uint64_t>(1, shape.batch));
    std::mt19937_64 rng(shape.seed);
    std::vector<std::int64_t> values(static_cast<std::size_t>(batch * tokens));
    for (auto& v : values) v = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(l.vocab));
    return {{"input_ids", at::from_blob(values.data(), {batch, tokens}, at::kLong).clone()}};
  }

  std::uint64_t activation_bytes(const ComponentDescription& c, const std::string&, const NamedTensors& inputs,
                                 const ComputeTarget& target) const override {
    const c10::ScalarType dtype = target.dtype;
    const Layout l = layout_of(c, "Qwen2");
    const auto& ids = inputs.at("input_ids");
    const std::int64_t tokens = ids.size(0) * ids.size(1);
    auto bytes = static_cast<std::int64_t>(
        static_cast<double>(tokens) * l.activation_bytes_per_token(static_cast<double>(element_bytes(dtype)), true));
#if VRAMGUARD_TORCH_MAJOR < 2
    bytes += ids.size(0) * l.heads * ids.size(1) * ids.size(1) * 4;  // the unfused attention's scores
#endif
    return static_cast<std::uint64_t>(bytes);
  }

  std::uint64_t tokens(const NamedTensors& inputs) const override {
    return static_cast<std::uint64_t>(inputs.at("input_ids").size(1));
  }

  NamedTensors run(Session& session, const std::string& component, const std::string&, const NamedTensors& inputs,
                   const std::vector<std::string>& capture) const override {
    const Layout l = layout_of(*session.description().find(component), "Qwen2");
    const c10::ScalarType dtype = session.dtype(component);
    const at::Tensor& input_ids = inputs.at("input_ids");
    NamedTensors out;
    at::Tensor x = embed(session, component, l.prefix + "embed_tokens", input_ids);
    const auto tokens = input_ids.size(1);
    // Activations move with the layers; the rotary angles are made once per device.
    PerDevice<Rotary> rotaries([&](c10::Device device) { return rotary(l, tokens, device, dtype); });
    for (std::int64_t i = 0; i < l.layers; ++i) {
      UnitScope layer = session.unit(component, layer_name(l, i));
      x = x.to(layer.device(), /*non_blocking=*/true);
      x = decoder_layer(l, layer, x, rotaries.on(layer.device()), at::Tensor());
      if (i == 0 && wants(capture, "hidden_after_layer_0")) out["hidden_after_layer_0"] = x.clone();
    }
    {
      UnitScope norm = session.unit(component, l.prefix + "norm");
      x = rms_norm(x.to(norm.device(), true), norm["weight"], l.eps);
    }
    if (wants(capture, "final_hidden")) out["final_hidden"] = x.clone();
    out["logits"] = head_logits(session, component, x);
    return out;
  }
};

}  // namespace

std::shared_ptr<const Architecture> make_qwen2_architecture() { return std::make_shared<Qwen2Architecture>(); }

}  // namespace vramguard::runtime
