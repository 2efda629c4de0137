#pragma once
// multipart/form-data (RFC 7578), as clients of the OpenAI Images API send an edit: each part's name,
// filename and content type, and its bytes. Bounded: the body is already capped by the server, and the
// parts are counted.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vramguard {

struct FormPart {
  std::string name;
  std::string filename;  // empty for a plain field
  std::string content_type;
  std::string data;
};

// The parts of `body`, sent with the request header `content_type` (which names the boundary). InputError
// naming what is wrong (not multipart/form-data, no boundary, a part without a name, a body that ends
// early, more than `max_parts` parts).
std::vector<FormPart> parse_multipart_form(std::string_view content_type, std::string_view body,
                                           std::size_t max_parts = 64);

}  // namespace vramguard
