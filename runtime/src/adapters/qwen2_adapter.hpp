#pragma once
// Qwen2 as transformers defines it (Qwen2ForCausalLM), and the language model of Qwen2.5-VL on text:
// embeddings; N × [RMSNorm, grouped-query attention with rotary embeddings, RMSNorm, SwiGLU MLP];
// the final norm; the head (tied to the embeddings or not). Causal, batched, any floating dtype.
#include <cstdint>
#include "vramguard/runtime/adapter.hpp"

namespace vramguard::runtime {

class Qwen2Adapter final : public Adapter {
 public:
  std::string name() const override { return "qwen2"; }
  bool handles(const ModelDescription& model, const std::string& component) const override;
  void check(const ModelDescription& model, const std::string& component, const at::Tensor& input_ids) const override;
  std::int64_t vocabulary_size(const ModelDescription& model, const std::string& component) const override;
  ForwardResult forward(Session& session, const std::string& component, const at::Tensor& input_ids,
                        const std::vector<std::string>& capture) override;
};

}  // namespace vramguard::runtime
