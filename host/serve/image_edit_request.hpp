#pragma once
// POST /v1/images/edits as the OpenAI Images API takes it, read from its form into an edit's settings,
// and the API's errors in its shape: {"error": {"message", "type", "param", "code"}}.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "edit_settings.hpp"
#include "serve/multipart_form.hpp"

namespace vramguard {

// A refusal as the API answers it: the HTTP status and OpenAI's error object.
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error");
  int status() const noexcept { return status_; }
  std::string json() const;  // {"error": {...}}

 private:
  int status_;
  std::string param_, code_, type_;
};

struct ServeLimits {
  std::uint64_t max_image_bytes = 20'000'000;  // each picture's file (413 above)
  std::uint64_t max_pixels = 1024 * 1024;      // the result's (413 above); a picture is resized as the CLI does
  int default_steps = 50;
};

struct ImageEditRequest {
  std::vector<std::string> pictures;  // the image (or image[]) parts' bytes, Picture 1..N in order
  pipelines::EditSettings settings;   // everything but the pictures
  int n = 1;                          // results, with seeds seed, seed + 1, ...
  // The lora field: which of the LoRAs the server loaded (--lora) run for this request, by name, and at
  // what scale; "none" gives an empty list. Unset: each at the scale it was loaded with.
  std::optional<std::vector<std::pair<std::string, double>>> loras;
};

// The request's fields checked as the CLI checks its options: ApiError (400, or 413 for what is too large)
// naming the field.
ImageEditRequest read_image_edit_request(const std::vector<FormPart>& parts, const ServeLimits& limits);

}  // namespace vramguard
