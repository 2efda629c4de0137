#include "report/table.hpp"

#include <algorithm>

namespace vramguard {
namespace {

// Display width: UTF-8 continuation bytes take no column of their own.
std::size_t width_of(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

void TextTable::print(std::ostream& out, const std::string& indent) const {
  std::vector<std::size_t> widths(columns_.size(), 0);
  for (std::size_t c = 0; c < columns_.size(); ++c) widths[c] = width_of(columns_[c].header);
  for (const auto& row : rows_)
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) widths[c] = std::max(widths[c], width_of(row[c]));
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string text = indent;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const std::string pad(widths[c] - std::min(widths[c], width_of(cell)), ' ');
      const bool right = columns_[c].align == Align::right && !header;
      const bool last = c + 1 == columns_.size();
      text += right ? pad + cell : (last ? cell : cell + pad);
      if (!last) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  std::vector<std::string> headers;
  for (const auto& column : columns_) headers.push_back(column.header);
  line(headers, true);
  for (const auto& row : rows_) line(row, false);
}

}  // namespace vramguard
