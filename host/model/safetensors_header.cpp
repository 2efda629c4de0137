#include "model/safetensors_header.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "model/checkpoint_error.hpp"

namespace vramguard {
namespace {

using json = nlohmann::json;

std::uint64_t read_le64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return value;
}

std::uint64_t require_unsigned(const json& value, const std::string& file, const std::string& tensor,
                               const char* what) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer()) throw CheckpointError(file, std::string(what) + " is negative", tensor);
  throw CheckpointError(file, std::string(what) + " is not a non-negative integer", tensor);
}

SafetensorsEntry parse_entry(const std::string& name, const json& value, const std::string& file) {
  if (name.empty()) throw CheckpointError(file, "a tensor has an empty name");
  if (!value.is_object()) throw CheckpointError(file, "its entry is not an object", name);
  SafetensorsEntry entry;
  entry.name = name;

  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) throw CheckpointError(file, "no dtype", name);
  const auto dtype = dtype_from_name(dtype_it->get_ref<const std::string&>());
  if (!dtype)
    throw CheckpointError(file, "unknown dtype '" + dtype_it->get<std::string>() + "' (known: " + known_dtype_names() + ")",
                          name);
  entry.dtype = *dtype;

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) throw CheckpointError(file, "no shape array", name);
  std::uint64_t elements = 1;
  for (const auto& dim_value : *shape_it) {
    const std::uint64_t dim = require_unsigned(dim_value, file, name, "a shape entry");
    if (dim > static_cast<std::uint64_t>(INT64_MAX)) throw CheckpointError(file, "a shape entry is too large", name);
    if (dim != 0 && elements > UINT64_MAX / dim)
      throw CheckpointError(file, "its shape has more elements than a 64-bit count can hold", name);
    elements *= dim;
    entry.shape.push_back(static_cast<std::int64_t>(dim));
  }
  entry.elements = elements;

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2)
    throw CheckpointError(file, "data_offsets must be [begin, end]", name);
  entry.begin = require_unsigned((*offsets_it)[0], file, name, "data_offsets' begin");
  entry.end = require_unsigned((*offsets_it)[1], file, name, "data_offsets' end");
  if (entry.end < entry.begin) throw CheckpointError(file, "data_offsets end before they begin", name);

  const unsigned bits = dtype_bits(entry.dtype);
  if (elements > UINT64_MAX / bits) throw CheckpointError(file, "its byte size overflows 64 bits", name);
  const std::uint64_t total_bits = elements * bits;
  if (total_bits % 8 != 0)
    throw CheckpointError(file, "its " + std::to_string(elements) + " elements of " + std::to_string(bits) +
                                    " bits do not fill whole bytes", name);
  if (total_bits / 8 != entry.bytes())
    throw CheckpointError(file, "shape × dtype is " + std::to_string(total_bits / 8) + " bytes but data_offsets span " +
                                    std::to_string(entry.bytes()) + " bytes", name);
  return entry;
}

// Records the first key that appears twice at the top level of the header; counts nothing else.
struct DuplicateKeyFinder : nlohmann::json_sax<json> {
  int depth = 0;
  std::unordered_set<std::string> seen;
  std::string duplicate;
  std::size_t error_byte = 0;

  bool key(string_t& name) override {
    if (depth == 1 && duplicate.empty() && !seen.insert(name).second) duplicate = name;
    return true;
  }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_byte = position;
    return false;
  }
};

}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view prefix, std::uint64_t file_size, const std::string& file) {
  if (file_size < 8 || prefix.size() < 8)
    throw CheckpointError(file, "too short for a safetensors file (" + std::to_string(file_size) +
                                    " bytes; it starts with an 8-byte header length)");
  SafetensorsHeader header;
  header.header_bytes = read_le64(prefix.substr(0, 8));
  if (header.header_bytes > kSafetensorsMaxHeaderBytes)
    throw CheckpointError(file, "header length " + std::to_string(header.header_bytes) +
                                    " exceeds the format's limit of 100 MB: not a safetensors file, or a damaged one");
  if (header.header_bytes > file_size - 8)
    throw CheckpointError(file, "header length " + std::to_string(header.header_bytes) + " goes beyond the end of the " +
                                    std::to_string(file_size) + "-byte file (truncated?)");
  if (header.header_bytes < 2) throw CheckpointError(file, "the header is too short to be a JSON object");
  if (prefix.size() < 8 + header.header_bytes) throw CheckpointError(file, "could not read the whole header");
  header.data_offset = 8 + header.header_bytes;
  const std::string_view text = prefix.substr(8, header.header_bytes);

  // Duplicate top-level keys are silently merged by JSON parsers; for tensors that would hide data.
  // A SAX pass finds them in linear time (nlohmann's callback parser rescans the parent object after
  // every entry, which made a 300,000-tensor header take minutes).
  DuplicateKeyFinder finder;
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &finder);
  } catch (const json::exception&) {
    parsed = false;
  }
  if (!parsed) throw CheckpointError(file, "the header is not valid UTF-8 JSON (error at byte " + std::to_string(finder.error_byte) + ")");
  if (!finder.duplicate.empty()) throw CheckpointError(file, "listed twice in the header", finder.duplicate);
  json document;
  try {
    document = json::parse(text.begin(), text.end());
  } catch (const json::exception&) {  // numbers too large to represent; the message would quote the file
    throw CheckpointError(file, "the header holds a value this reader cannot represent (a number too large?)");
  }
  if (!document.is_object()) throw CheckpointError(file, "the header is not a JSON object");

  const std::uint64_t data_size = file_size - header.data_offset;
  for (const auto& [name, value] : document.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw CheckpointError(file, "__metadata__ is not an object");
      for (const auto& [key, entry] : value.items()) {
        if (!entry.is_string()) throw CheckpointError(file, "__metadata__ value for '" + key + "' is not a string");
        header.metadata.emplace(key, entry.get<std::string>());
      }
      continue;
    }
    SafetensorsEntry entry = parse_entry(name, value, file);
    if (entry.end > data_size)
      throw CheckpointError(file, "data_offsets end at " + std::to_string(entry.end) + ", past the " +
                                      std::to_string(data_size) + "-byte data area (truncated file?)", name);
    header.tensors.push_back(std::move(entry));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Empty tensors occupy no bytes and may sit anywhere; among the others, sorted by where they begin,
  // each must begin at or after the furthest end so far.
  const SafetensorsEntry* furthest = nullptr;
  for (const auto& current : header.tensors) {
    if (current.bytes() == 0) continue;
    if (furthest != nullptr && current.begin < furthest->end)
      throw CheckpointError(file, "its data overlaps tensor '" + furthest->name + "' (bytes " + std::to_string(current.begin) +
                                      ".." + std::to_string(std::min(furthest->end, current.end)) + ")", current.name);
    if (furthest == nullptr || current.end > furthest->end) furthest = &current;
  }
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path, std::string("cannot open: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw InputError(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputError(path, "not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);

  auto read_exact = [&](std::string& buffer, std::uint64_t offset, std::uint64_t count) {
    buffer.resize(count);
    std::uint64_t done = 0;
    while (done < count) {
      const ssize_t n = ::pread(fd, buffer.data() + done, count - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw InputError(path, std::string("read failed: ") + (n < 0 ? std::strerror(errno) : "unexpected end of file"));
      done += static_cast<std::uint64_t>(n);
    }
  };
  std::string prefix;
  read_exact(prefix, 0, std::min<std::uint64_t>(8, file_size));
  if (prefix.size() == 8) {
    const std::uint64_t length = read_le64(prefix);
    if (length <= kSafetensorsMaxHeaderBytes && length <= file_size - 8) read_exact(prefix, 0, 8 + length);
  }
  SafetensorsHeader header = parse_safetensors_header(prefix, file_size, path);
  header.identity = FileIdentity::of(st);
  return header;
}

}  // namespace vramguard
