#include "model/safetensors_header.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

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

// A number in a shape or data_offsets array, as the JSON had it.
struct RawNumber {
  enum class Kind : std::uint8_t { non_negative, negative, not_an_integer } kind;
  std::uint64_t value = 0;
};

// One top-level entry as the JSON had it, before it is checked.
struct RawEntry {
  std::string name;
  bool is_object = true;
  std::optional<std::string> dtype;             // absent, or not a string: none
  std::optional<std::vector<RawNumber>> shape;  // absent, or not an array: none
  std::optional<std::vector<RawNumber>> offsets;
};

std::uint64_t require_unsigned(const RawNumber& value, const std::string& file, const std::string& tensor,
                               const char* what) {
  if (value.kind == RawNumber::Kind::non_negative) return value.value;
  if (value.kind == RawNumber::Kind::negative) throw CheckpointError(file, std::string(what) + " is negative", tensor);
  throw CheckpointError(file, std::string(what) + " is not a non-negative integer", tensor);
}

SafetensorsEntry checked_entry(RawEntry& raw, const std::string& file) {
  const std::string& name = raw.name;
  if (name.empty()) throw CheckpointError(file, "a tensor has an empty name");
  if (!raw.is_object) throw CheckpointError(file, "its entry is not an object", name);
  SafetensorsEntry entry;

  if (!raw.dtype) throw CheckpointError(file, "no dtype", name);
  const std::string& dtype_text = *raw.dtype;
  const auto dtype = dtype_from_name(dtype_text);
  if (!dtype)
    throw CheckpointError(file, "unknown dtype '" + dtype_text + "' (known: " + known_dtype_names() + ")", name);
  entry.dtype = *dtype;

  if (!raw.shape) throw CheckpointError(file, "no shape array", name);
  std::uint64_t elements = 1;
  entry.shape.reserve(raw.shape->size());
  for (const auto& dim_value : *raw.shape) {
    const std::uint64_t dim = require_unsigned(dim_value, file, name, "a shape entry");
    if (dim > static_cast<std::uint64_t>(INT64_MAX)) throw CheckpointError(file, "a shape entry is too large", name);
    if (dim != 0 && elements > UINT64_MAX / dim)
      throw CheckpointError(file, "its shape has more elements than a 64-bit count can hold", name);
    elements *= dim;
    entry.shape.push_back(static_cast<std::int64_t>(dim));
  }
  entry.elements = elements;

  if (!raw.offsets || raw.offsets->size() != 2) throw CheckpointError(file, "data_offsets must be [begin, end]", name);
  entry.begin = require_unsigned((*raw.offsets)[0], file, name, "data_offsets' begin");
  entry.end = require_unsigned((*raw.offsets)[1], file, name, "data_offsets' end");
  if (entry.end < entry.begin) throw CheckpointError(file, "data_offsets end before they begin", name);

  const unsigned bits = dtype_bits(entry.dtype);
  if (elements > UINT64_MAX / bits) throw CheckpointError(file, "its byte size overflows 64 bits", name);
  const std::uint64_t total_bits = elements * bits;
  if (total_bits % 8 != 0)
    throw CheckpointError(
        file,
        "its " + std::to_string(elements) + " elements of " + std::to_string(bits) + " bits do not fill whole bytes",
        name);
  if (total_bits / 8 != entry.bytes())
    throw CheckpointError(file,
                          "shape × dtype is " + std::to_string(total_bits / 8) + " bytes but data_offsets span " +
                              std::to_string(entry.bytes()) + " bytes",
                          name);
  entry.name = std::move(raw.name);
  return entry;
}

// Reads the header in one SAX pass, straight into raw entries: no document tree (a tree of 300,000
// entries cost more than the rest of inspection together). Where JSON lets a key repeat inside an
// entry, the last one counts, as in a parsed document; a repeated top-level key is refused later.
class HeaderReader final : public nlohmann::json_sax<json> {
 public:
  bool top_is_object = false;
  bool metadata_not_object = false;
  std::string metadata_bad_key;  // the first __metadata__ key whose value is not a string
  bool metadata_has_bad_value = false;
  std::map<std::string, std::string> metadata;
  std::vector<RawEntry> entries;
  std::size_t error_byte = 0;
  std::size_t metadata_occurrences = 0;

  bool key(string_t& name) override {
    switch (context()) {
      case Context::top: top_key_ = std::move(name); break;
      case Context::metadata: metadata_key_ = std::move(name); break;
      case Context::entry:
        field_ = name == "dtype"          ? Field::dtype
                 : name == "shape"        ? Field::shape
                 : name == "data_offsets" ? Field::offsets
                                          : Field::other;
        break;
      default: break;
    }
    return true;
  }
  bool start_object(std::size_t) override { return open(/*object=*/true); }
  bool start_array(std::size_t) override { return open(/*object=*/false); }
  bool end_object() override { return stack_.pop_back(), true; }
  bool end_array() override { return stack_.pop_back(), true; }
  bool null() override { return scalar(RawNumber::Kind::not_an_integer, 0, nullptr); }
  bool boolean(bool) override { return scalar(RawNumber::Kind::not_an_integer, 0, nullptr); }
  bool number_integer(number_integer_t value) override {
    return value < 0 ? scalar(RawNumber::Kind::negative, 0, nullptr)
                     : scalar(RawNumber::Kind::non_negative, static_cast<std::uint64_t>(value), nullptr);
  }
  bool number_unsigned(number_unsigned_t value) override {
    return scalar(RawNumber::Kind::non_negative, value, nullptr);
  }
  bool number_float(number_float_t, const string_t&) override {
    return scalar(RawNumber::Kind::not_an_integer, 0, nullptr);
  }
  bool string(string_t& value) override { return scalar(RawNumber::Kind::not_an_integer, 0, &value); }
  bool binary(binary_t&) override { return scalar(RawNumber::Kind::not_an_integer, 0, nullptr); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error_byte = position;
    return false;
  }

 private:
  enum class Context : std::uint8_t { none, top, metadata, entry, numbers, skip };
  enum class Field : std::uint8_t { dtype, shape, offsets, other };

  Context context() const { return stack_.empty() ? Context::none : stack_.back(); }

  // A value begins at the top level: the metadata object, or a tensor's entry.
  RawEntry& begin_entry(bool is_object) {
    entries.push_back(RawEntry{std::move(top_key_), is_object, std::nullopt, std::nullopt, std::nullopt});
    return entries.back();
  }

  bool open(bool object) {
    switch (context()) {
      case Context::none:
        top_is_object = object;
        stack_.push_back(object ? Context::top : Context::skip);
        return true;
      case Context::top:
        if (top_key_ == kMetadataKey) {
          ++metadata_occurrences;
          metadata_not_object = metadata_not_object || !object;
          stack_.push_back(object ? Context::metadata : Context::skip);
        } else {
          begin_entry(object);
          stack_.push_back(object ? Context::entry : Context::skip);
        }
        return true;
      case Context::metadata: note_bad_metadata_value(); break;
      case Context::entry: {
        RawEntry& entry = entries.back();
        if (!object && (field_ == Field::shape || field_ == Field::offsets)) {
          (field_ == Field::shape ? entry.shape : entry.offsets).emplace();
          numbers_ = &*(field_ == Field::shape ? entry.shape : entry.offsets);
          stack_.push_back(Context::numbers);
          return true;
        }
        clear_field(entry);
        break;
      }
      case Context::numbers: numbers_->push_back({RawNumber::Kind::not_an_integer, 0}); break;
      case Context::skip: break;
    }
    stack_.push_back(Context::skip);
    return true;
  }

  bool scalar(RawNumber::Kind kind, std::uint64_t value, string_t* text) {
    switch (context()) {
      case Context::none: top_is_object = false; break;
      case Context::top:
        if (top_key_ == kMetadataKey) {
          ++metadata_occurrences;
          metadata_not_object = true;
        } else {
          begin_entry(/*is_object=*/false);
        }
        break;
      case Context::metadata:
        if (text != nullptr) metadata[metadata_key_] = std::move(*text);
        else note_bad_metadata_value();
        break;
      case Context::entry: {
        RawEntry& entry = entries.back();
        if (field_ == Field::dtype && text != nullptr) entry.dtype = std::move(*text);
        else clear_field(entry);
        break;
      }
      case Context::numbers: numbers_->push_back({kind, value}); break;
      case Context::skip: break;
    }
    return true;
  }

  // A field whose value has the wrong type: as if it were absent (the check then names it).
  void clear_field(RawEntry& entry) const {
    if (field_ == Field::dtype) entry.dtype.reset();
    else if (field_ == Field::shape) entry.shape.reset();
    else if (field_ == Field::offsets) entry.offsets.reset();
  }

  void note_bad_metadata_value() {
    if (!metadata_has_bad_value) metadata_bad_key = metadata_key_;
    metadata_has_bad_value = true;
  }

  static constexpr std::string_view kMetadataKey = "__metadata__";
  std::vector<Context> stack_;
  std::string top_key_, metadata_key_;
  Field field_ = Field::other;
  std::vector<RawNumber>* numbers_ = nullptr;
};

// The first name listed twice, or none: sorting pointers to the names, O(n log n), copies no name.
const std::string* name_listed_twice(const std::vector<RawEntry>& entries) {
  std::vector<const std::string*> names;
  names.reserve(entries.size());
  for (const auto& e : entries) names.push_back(&e.name);
  std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  for (std::size_t i = 1; i < names.size(); ++i)
    if (*names[i] == *names[i - 1]) return names[i];
  return nullptr;
}

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
    throw CheckpointError(file, "header length " + std::to_string(header.header_bytes) +
                                    " goes beyond the end of the " + std::to_string(file_size) +
                                    "-byte file (truncated?)");
  if (header.header_bytes < 2) throw CheckpointError(file, "the header is too short to be a JSON object");
  if (prefix.size() < 8 + header.header_bytes) throw CheckpointError(file, "could not read the whole header");
  header.data_offset = 8 + header.header_bytes;
  const std::string_view text = prefix.substr(8, header.header_bytes);

  HeaderReader reader;
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const json::exception&) {
    parsed = false;
  }
  const std::size_t error_byte = reader.error_byte;
  if (!parsed)
    throw CheckpointError(file,
                          "the header is not valid UTF-8 JSON (error at byte " + std::to_string(error_byte) + ")");
  if (!reader.top_is_object) throw CheckpointError(file, "the header is not a JSON object");
  // Duplicate keys are silently merged by JSON parsers; for tensors that would hide data.
  if (reader.metadata_occurrences > 1) throw CheckpointError(file, "listed twice in the header", "__metadata__");
  if (const std::string* twice = name_listed_twice(reader.entries))
    throw CheckpointError(file, "listed twice in the header", *twice);
  if (reader.metadata_not_object) throw CheckpointError(file, "__metadata__ is not an object");
  if (reader.metadata_has_bad_value) {
    const std::string& key = reader.metadata_bad_key;
    throw CheckpointError(file, "__metadata__ value for '" + key + "' is not a string");
  }
  header.metadata = std::move(reader.metadata);

  const std::uint64_t data_size = file_size - header.data_offset;
  header.tensors.reserve(reader.entries.size());
  for (auto& raw : reader.entries) {
    SafetensorsEntry entry = checked_entry(raw, file);
    if (entry.end > data_size)
      throw CheckpointError(file,
                            "data_offsets end at " + std::to_string(entry.end) + ", past the " +
                                std::to_string(data_size) + "-byte data area (truncated file?)",
                            entry.name);
    header.tensors.push_back(std::move(entry));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  // Empty tensors occupy no bytes and may sit anywhere; among the others, sorted by where they begin,
  // each must begin at or after the furthest end so far.
  const SafetensorsEntry* furthest = nullptr;
  for (const auto& current : header.tensors) {
    if (current.bytes() == 0) continue;
    if (furthest != nullptr && current.begin < furthest->end)
      throw CheckpointError(file,
                            "its data overlaps tensor '" + furthest->name + "' (bytes " +
                                std::to_string(current.begin) + ".." +
                                std::to_string(std::min(furthest->end, current.end)) + ")",
                            current.name);
    if (furthest == nullptr || current.end > furthest->end) furthest = &current;
  }
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  // Without blocking: a FIFO is refused below instead of waited on (no effect on regular files).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
      if (n <= 0)
        throw InputError(path,
                         std::string("read failed: ") + (n < 0 ? std::strerror(errno) : "unexpected end of file"));
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
