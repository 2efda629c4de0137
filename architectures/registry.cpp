// Finding a component's family among the registered ones (builtin_architectures() is generated from the
// families' build lines: architectures/CMakeLists.txt).
#include <algorithm>

#include "core/errors.hpp"
#include "vramguard/runtime/architecture.hpp"

namespace vramguard::runtime {

std::shared_ptr<const Architecture> architecture_for(const ComponentDescription& component) {
  for (const auto& architecture : builtin_architectures())
    if (architecture->handles(component)) return architecture;
  return nullptr;
}

EntryPoint Architecture::entry(const std::string& name) const {
  const auto all = entries();
  if (name.empty()) return all.front();
  const auto it = std::find_if(all.begin(), all.end(), [&](const EntryPoint& e) { return e.name == name; });
  if (it != all.end()) return *it;
  std::string names;
  for (const auto& e : all) names += (names.empty() ? "" : ", ") + e.name;
  throw InputError("--entry " + name, "is not an entry point of " + this->name(), "its entries: " + names);
}

}  // namespace vramguard::runtime
