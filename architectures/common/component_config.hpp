#pragma once
// The name a component's config is known by in messages: its config.json, or the component where it
// has none (the family's config reader then says that it needs one).
#include <string>

#include "vramguard/runtime/session.hpp"

namespace vramguard::runtime {

inline std::string config_file_of(const ComponentDescription& component) {
  return component.config_file.empty() ? component.name : component.config_file;
}

}  // namespace vramguard::runtime
