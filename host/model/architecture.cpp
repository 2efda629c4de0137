#include "model/architecture.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "core/errors.hpp"
#include "core/text.hpp"

namespace vramguard {
namespace {

using json = nlohmann::json;

std::vector<std::string> class_names(const std::optional<json>& config) {
  std::vector<std::string> names;
  if (!config) return names;
  if (const auto it = config->find("architectures"); it != config->end() && it->is_array())
    for (const auto& name : *it)
      if (name.is_string()) names.push_back(name.get<std::string>());
  if (const auto it = config->find("_class_name"); it != config->end() && it->is_string())
    names.push_back(it->get<std::string>());
  return names;
}

bool embed_like(std::string_view name) {
  for (const char* word : {"embed", "wte", "wpe", "patch", "img_in", "txt_in", "conv_in"})
    if (name.find(word) != std::string_view::npos) return true;
  return false;
}

// Indexed stacks found by pattern: "<prefix><digits>." where the prefix has at least two indices.
ArchitectureDescription generic(const std::vector<std::string>& names) {
  ArchitectureDescription d;
  d.name = "generic";
  std::map<std::string, std::set<std::string>> indices;
  for (const auto& name : names) {
    std::size_t pos = 0;
    while ((pos = name.find('.', pos)) != std::string::npos) {
      std::size_t end = pos + 1;
      while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
      if (end > pos + 1 && end < name.size() && name[end] == '.') {
        indices[name.substr(0, pos + 1)].insert(name.substr(pos + 1, end - pos - 1));
        break;
      }
      ++pos;
    }
  }
  std::vector<std::string> stacks;
  for (const auto& [prefix, seen] : indices)
    if (seen.size() >= 2) stacks.push_back(prefix);
  std::stable_sort(stacks.begin(), stacks.end(), [](const std::string& a, const std::string& b) {
    const bool a_dec = a.find("decoder") != std::string::npos, b_dec = b.find("decoder") != std::string::npos;
    return a_dec != b_dec ? b_dec : a < b;
  });
  // Around the stacks: modules one level below the stacks' container, or top-level modules.
  std::vector<std::string> before, after;
  std::set<std::string> around;
  for (const auto& name : names) {
    bool in_stack = false;
    for (const auto& stack : stacks) in_stack = in_stack || text::starts_with(name, stack);
    if (in_stack) continue;
    std::size_t depth = 1;
    for (const auto& stack : stacks) {
      const auto container = stack.substr(0, stack.rfind('.', stack.size() - 2) + 1);
      if (!container.empty() && text::starts_with(name, container))
        depth = std::max<std::size_t>(
            depth, static_cast<std::size_t>(std::count(container.begin(), container.end(), '.')) + 1);
    }
    std::size_t cut = 0;
    for (std::size_t i = 0; i < depth && cut != std::string::npos; ++i)
      cut = name.find('.', cut == 0 && i == 0 ? 0 : cut + 1);
    if (cut == std::string::npos) continue;  // a bare top-level tensor: the fallback groups it
    const std::string prefix = name.substr(0, cut + 1);
    if (around.insert(prefix).second) (embed_like(prefix) ? before : after).push_back(prefix);
  }
  std::sort(before.begin(), before.end());
  // After the stacks, what sits in their own container first (a final norm: model.norm), then what
  // lies outside it (the head: lm_head) — the order a forward pass takes them.
  auto inside_a_stacks_container = [&](const std::string& prefix) {
    for (const auto& stack : stacks) {
      const auto container = stack.substr(0, stack.rfind('.', stack.size() - 2) + 1);
      if (!container.empty() && text::starts_with(prefix, container)) return true;
    }
    return false;
  };
  std::sort(after.begin(), after.end(), [&](const std::string& a, const std::string& b) {
    const bool a_inside = inside_a_stacks_container(a), b_inside = inside_a_stacks_container(b);
    return a_inside != b_inside ? a_inside : a < b;
  });
  for (const auto& p : before) d.rules.push_back({{p}, UnitKind::embedding, false});
  for (const auto& p : stacks) d.rules.push_back({{p}, UnitKind::block, true});
  for (const auto& p : after) d.rules.push_back({{p}, UnitKind::head, false});
  d.default_tokens = 2048;
  return d;
}

}  // namespace

std::vector<UnitRule> parse_unit_rules(const std::string& spec) {
  std::vector<UnitRule> rules;
  for (const auto& raw : text::split(spec, ',')) {
    const std::string item(text::trim(raw));
    if (item.empty()) continue;
    const auto colon = item.find(':');
    if (colon == std::string::npos || colon + 1 == item.size())
      throw UsageError("unit rule '" + item + "' is not KIND:PREFIX",
                       "e.g. --unit-rules 'embedding:model.wte,block:model.h.,head:lm_head'");
    const std::string kind = item.substr(0, colon);
    std::string prefix = item.substr(colon + 1);
    UnitRule rule;
    if (kind == "embedding") rule.kind = UnitKind::embedding;
    else if (kind == "block") rule.kind = UnitKind::block;
    else if (kind == "head") rule.kind = UnitKind::head;
    else if (kind == "other") rule.kind = UnitKind::other;
    else throw UsageError("unit rule '" + item + "': kind must be embedding, block, head or other");
    rule.indexed = rule.kind == UnitKind::block && text::ends_with(prefix, ".");
    if (!text::ends_with(prefix, ".")) prefix += ".";
    rule.prefixes = {prefix};
    rules.push_back(rule);
  }
  if (rules.empty()) throw UsageError("the unit rules '" + spec + "' are empty");
  return rules;
}

ArchitectureDescription describe_architecture(const std::optional<json>& config, const std::string& config_file,
                                              const std::vector<std::string>& names,
                                              const std::optional<std::string>& unit_rules_override) {
  ArchitectureDescription d;
  bool known = false;
  const json empty = json::object();
  const ArchitectureConfig cfg{config ? *config : empty, config_file};
  for (const auto& name : class_names(config)) {
    for (const auto& family : unit_families())
      if (std::count(family.classes.begin(), family.classes.end(), name)) {
        d = family.describe(name, cfg);
        known = true;
        break;
      }
    if (known) break;
  }
  if (!known) d = generic(names);
  if (unit_rules_override) {
    d.rules = parse_unit_rules(*unit_rules_override);
    d.name += " (refined by unit rules)";
  }
  return d;
}

}  // namespace vramguard
