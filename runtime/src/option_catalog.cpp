#include "vramguard/runtime/option_catalog.hpp"

#include "config/option_table.hpp"
#include "core/errors.hpp"

namespace vramguard::runtime {

std::vector<OptionInfo> option_catalog() {
  std::vector<OptionInfo> catalog;
  for (const auto& option : option_declarations())
    catalog.push_back({std::string(option.name), std::string(option.keyword),
                       std::string(option_kind_name(option.kind)), std::string(option.value_name),
                       std::string(option.default_text), std::string(option.help), option.min, option.max});
  return catalog;
}

std::string checked_option_value(const std::string& keyword, const std::string& text, const std::string& where) {
  const OptionDeclaration* option = option_with_keyword(keyword);
  if (option == nullptr) throw UsageError("no option has the keyword '" + keyword + "'");
  return checked_option_text(*option, text, where);
}

}  // namespace vramguard::runtime
