#include "serve/image_edit_request.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

namespace vramguard {
namespace {

// vramguard's own fields beside the API's; a field neither knows is refused rather than ignored.
const std::set<std::string> kFields = {"image",
                                       "image[]",
                                       "prompt",
                                       "n",
                                       "size",
                                       "response_format",
                                       "model",
                                       "user",
                                       "negative_prompt",
                                       "true_cfg_scale",
                                       "num_inference_steps",
                                       "seed",
                                       "lora"};

long long integer(const FormPart& part, long long low, long long high) {
  long long value = 0;
  const auto& text = part.data;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < low || value > high)
    throw ApiError(400,
                   part.name + " must be an integer from " + std::to_string(low) + " to " + std::to_string(high) +
                       ", not '" + text.substr(0, 40) + "'",
                   part.name, "invalid_value");
  return value;
}

double decimal(const FormPart& part, double low, double high) {
  char* end = nullptr;
  const double value = std::strtod(part.data.c_str(), &end);
  if (part.data.empty() || end != part.data.c_str() + part.data.size() || !std::isfinite(value) || value < low ||
      value > high)
    throw ApiError(400, part.name + " must be a number from " + std::to_string(low) + " to " + std::to_string(high),
                   part.name, "invalid_value");
  return value;
}

// "NAME[:SCALE],..." or "none": a LoRA's scale is 1 unless given.
std::vector<std::pair<std::string, double>> lora_choices(const FormPart& part) {
  std::vector<std::pair<std::string, double>> choices;
  if (part.data == "none") return choices;
  std::size_t begin = 0;
  while (begin <= part.data.size()) {
    const std::size_t comma = std::min(part.data.find(',', begin), part.data.size());
    const std::string entry = part.data.substr(begin, comma - begin);
    const std::size_t colon = entry.rfind(':');
    std::string name = entry;
    double scale = 1;
    if (colon != std::string::npos) {
      name = entry.substr(0, colon);
      scale = decimal(FormPart{"lora", "", "", entry.substr(colon + 1)}, -100, 100);
    }
    if (name.empty())
      throw ApiError(400,
                     "lora takes NAME[:SCALE] entries separated by commas (a LoRA the server was started with), "
                     "or none; not '" +
                         part.data.substr(0, 80) + "'",
                     "lora", "invalid_value");
    choices.emplace_back(name, scale);
    begin = comma + 1;
  }
  return choices;
}

}  // namespace

ApiError::ApiError(int status, const std::string& message, std::string param, std::string code, std::string type)
    : Error(status >= 500 ? ExitCode::job_failed : ExitCode::bad_input, message),
      status_(status),
      param_(std::move(param)),
      code_(std::move(code)),
      type_(std::move(type)) {}

std::string ApiError::json() const {
  nlohmann::json error = {{"message", what()}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) error["param"] = param_;
  if (!code_.empty()) error["code"] = code_;
  return nlohmann::json{{"error", error}}.dump();
}

ImageEditRequest read_image_edit_request(const std::vector<FormPart>& parts, const ServeLimits& limits) {
  ImageEditRequest request;
  request.settings.steps = limits.default_steps;
  bool prompt = false;
  for (const auto& part : parts) {
    if (!kFields.count(part.name))
      throw ApiError(400, "unknown field '" + part.name.substr(0, 60) + "'", part.name, "unknown_parameter");
    if (part.name == "image" || part.name == "image[]") {
      if (part.data.size() > limits.max_image_bytes)
        throw ApiError(413,
                       "a picture of " + std::to_string(part.data.size()) +
                           " bytes is larger than this server takes (" + std::to_string(limits.max_image_bytes) +
                           ", --max-image-bytes)",
                       "image", "image_too_large");
      request.pictures.push_back(part.data);
    } else if (part.name == "prompt") {
      request.settings.prompt = part.data;
      prompt = true;
    } else if (part.name == "negative_prompt") {
      request.settings.negative_prompt = part.data;
    } else if (part.name == "n") {
      request.n = static_cast<int>(integer(part, 1, 4));
    } else if (part.name == "seed") {
      request.settings.seed = static_cast<std::uint64_t>(integer(part, 0, (1LL << 53)));
    } else if (part.name == "num_inference_steps") {
      request.settings.steps = static_cast<int>(integer(part, 1, 1000));
    } else if (part.name == "lora") {
      auto choices = lora_choices(part);
      if (!request.loras) request.loras.emplace();
      request.loras->insert(request.loras->end(), choices.begin(), choices.end());
    } else if (part.name == "true_cfg_scale") {
      request.settings.true_cfg_scale = decimal(part, 0, 100);
    } else if (part.name == "response_format") {
      if (part.data == "url")
        throw ApiError(400,
                       "response_format 'url' is not served: vramguard keeps no files to link to; ask for b64_json",
                       "response_format", "unsupported_value");
      if (part.data != "b64_json")
        throw ApiError(400, "response_format must be b64_json", "response_format", "invalid_value");
    } else if (part.name == "size" && part.data != "auto") {
      const auto x = part.data.find('x');
      FormPart width{"size", "", "", part.data.substr(0, x)}, height{"size", "", "", ""};
      if (x != std::string::npos) height.data = part.data.substr(x + 1);
      const auto w = integer(width, 16, 16384), h = x == std::string::npos ? 0 : integer(height, 16, 16384);
      if (x == std::string::npos || w % 16 || h % 16)
        throw ApiError(400, "size must be WIDTHxHEIGHT in multiples of 16 (e.g. 1024x1024), or auto", "size",
                       "invalid_value");
      if (static_cast<std::uint64_t>(w * h) > limits.max_pixels)
        throw ApiError(413,
                       "size " + part.data + " is larger than this server makes (" + std::to_string(limits.max_pixels) +
                           " pixels, --max-pixels)",
                       "size", "size_too_large");
      request.settings.width = static_cast<int>(w);
      request.settings.height = static_cast<int>(h);
    }
  }
  if (!prompt || request.settings.prompt.empty())
    throw ApiError(400, "prompt is required", "prompt", "missing_required_parameter");
  if (request.pictures.empty()) throw ApiError(400, "image is required", "image", "missing_required_parameter");
  return request;
}

}  // namespace vramguard
