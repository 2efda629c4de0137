#include "adapters/qwen2_adapter.hpp"

namespace vramguard::runtime {

std::vector<std::shared_ptr<Adapter>> builtin_adapters() { return {std::make_shared<Qwen2Adapter>()}; }

}  // namespace vramguard::runtime
