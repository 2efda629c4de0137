#include "serve/multipart_form.hpp"

#include <algorithm>
#include <cctype>

#include "core/errors.hpp"

namespace vramguard {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

// A header's parameter (boundary=..., name="..."), quoted or not; empty when absent.
std::string parameter(std::string_view header, std::string_view key) {
  std::size_t at = 0;
  while ((at = lower(header).find(std::string(key) + "=", at)) != std::string::npos) {
    const bool starts = at == 0 || header[at - 1] == ';' || header[at - 1] == ' ' || header[at - 1] == '\t';
    at += key.size() + 1;
    if (!starts) continue;
    if (at < header.size() && header[at] == '"') {
      std::string value;
      for (std::size_t i = at + 1; i < header.size() && header[i] != '"'; ++i)
        value += header[i] == '\\' && i + 1 < header.size() ? header[++i] : header[i];
      return value;
    }
    const auto end = header.find(';', at);
    return std::string(trimmed(header.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at)));
  }
  return {};
}

}  // namespace

std::vector<FormPart> parse_multipart_form(std::string_view content_type, std::string_view body,
                                           std::size_t max_parts) {
  if (lower(trimmed(content_type.substr(0, content_type.find(';')))) != "multipart/form-data")
    throw InputError("Content-Type", "is '" + std::string(content_type.substr(0, 100)) + "', not multipart/form-data",
                     "send the edit as multipart/form-data, as the OpenAI Images API takes it");
  const std::string boundary = parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200)
    throw InputError("Content-Type", "names no usable boundary", "send multipart/form-data with its boundary");
  const std::string delimiter = "--" + boundary;
  std::size_t at = body.find(delimiter);
  if (at == std::string_view::npos) throw InputError("the request's body", "holds no part (no boundary in it)");
  std::vector<FormPart> parts;
  while (true) {
    at += delimiter.size();
    if (body.substr(at, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n")
      throw InputError("the request's body", "has a boundary not followed by a line end");
    at += 2;
    const auto headers_end = body.find("\r\n\r\n", at);
    if (headers_end == std::string_view::npos) throw InputError("the request's body", "ends inside a part's headers");
    if (parts.size() == max_parts)
      throw InputError("the request's body", "has more than " + std::to_string(max_parts) + " parts");
    FormPart part;
    for (std::size_t line = at; line < headers_end;) {
      const auto end = std::min(body.find("\r\n", line), headers_end);
      const std::string_view header = body.substr(line, end - line);
      const auto colon = header.find(':');
      const std::string key = lower(trimmed(header.substr(0, colon)));
      const std::string_view value =
          colon == std::string_view::npos ? std::string_view() : trimmed(header.substr(colon + 1));
      if (key == "content-disposition") {
        part.name = parameter(value, "name");
        part.filename = parameter(value, "filename");
      } else if (key == "content-type") {
        part.content_type = std::string(value);
      }
      line = end + 2;
    }
    if (part.name.empty()) throw InputError("the request's body", "has a part without a name (Content-Disposition)");
    const std::size_t data = headers_end + 4;
    const auto next = body.find("\r\n" + delimiter, data);
    if (next == std::string_view::npos)
      throw InputError("the request's body", "ends inside part '" + part.name + "' (no closing boundary)");
    part.data = std::string(body.substr(data, next - data));
    parts.push_back(std::move(part));
    at = next + 2;
  }
}

}  // namespace vramguard
