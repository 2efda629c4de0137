#include "image/image_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include <jpeglib.h>
// After jpeglib.h: the message codes (JWRN_JPEG_EOF).
#include <jerror.h>
#include <png.h>

#include "core/errors.hpp"
#include "core/output_file.hpp"
#include "image/exif_orientation.hpp"

namespace vramguard::pipelines {
namespace {

const char* const kImageHint = "pass a PNG or JPEG file (8 or 16 bits, RGB, gray or palette)";

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

void check_size(const std::string& path, std::uint64_t width, std::uint64_t height, std::uint64_t max_pixels) {
  if (width == 0 || height == 0)
    throw InputError(path, "has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")", kImageHint);
  if (width * height > max_pixels)
    throw InputError(path,
                     "is " + std::to_string(width) + "x" + std::to_string(height) + " pixels, more than the " +
                         std::to_string(max_pixels) + " vramguard reads (a decompression bomb, as Pillow counts them)",
                     "resize it first (the edit resizes its input to about a megapixel anyway), or raise "
                     "--max-image-pixels if the picture is what you meant");
}

// libpng reports errors through a callback that must not return: it jumps back to the reader.
struct PngErrors {
  std::jmp_buf jump;
  char message[256] = "corrupt";
};

void png_error_handler(png_structp png, png_const_charp message) {
  auto* errors = static_cast<PngErrors*>(png_get_error_ptr(png));
  std::snprintf(errors->message, sizeof errors->message, "%s", message);
  std::longjmp(errors->jump, 1);
}
void png_warning_handler(png_structp, png_const_charp) {}

// The eXIf chunk's orientation (before or after the image data: read at the end).
int png_orientation(png_structp png, png_infop info) {
  png_uint_32 bytes = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &bytes, &exif) == 0) return 1;
  return exif_orientation(exif, bytes);
}

RgbImage read_png(const std::string& path, std::FILE* file, std::uint64_t max_pixels) {
  PngErrors errors;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &errors, png_error_handler, png_warning_handler);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw JobError("libpng could not start reading " + path);
  }
  RgbImage image;
  std::vector<png_bytep> rows;
  if (setjmp(errors.jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw InputError(path, std::string("is not a readable PNG: ") + errors.message, kImageHint);
  }
  png_init_io(png, file);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  check_size(path, width, height, max_pixels);
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  const int color = png_get_color_type(png, info);
  // Pillow opens 16-bit grey as mode I;16, whose convert("RGB") clips each value to 255 (most pixels
  // white), where other 16-bit PNGs keep their high byte: its samples are read whole and clipped below.
  const bool grey16 = color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) == 16;
  const std::size_t sample_bytes = grey16 ? 2 : 3;  // per pixel, as libpng hands the rows over
  if (!grey16) {
    // To 8-bit RGB as Pillow's convert("RGB"): the high byte of 16-bit samples, palette and gray
    // expanded, alpha and transparency dropped (not blended).
    png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
      png_set_expand_gray_1_2_4_to_8(png);
      png_set_gray_to_rgb(png);
    }
    png_set_strip_alpha(png);
    png_set_packing(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<std::size_t>(width) * sample_bytes) longjmp(errors.jump, 1);
  std::vector<unsigned char> samples(static_cast<std::size_t>(width) * height * sample_bytes);
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y)
    rows[y] = samples.data() + static_cast<std::size_t>(y) * width * sample_bytes;
  png_read_image(png, rows.data());
  png_read_end(png, info);
  const int orientation = png_orientation(png, info);
  png_destroy_read_struct(&png, &info, nullptr);
  if (grey16) {
    image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
    for (std::size_t i = 0; i < samples.size() / 2; ++i) {
      const unsigned value = (static_cast<unsigned>(samples[2 * i]) << 8) | samples[2 * i + 1];  // big-endian
      const auto clipped = static_cast<std::uint8_t>(value > 255 ? 255 : value);
      image.pixels[3 * i] = image.pixels[3 * i + 1] = image.pixels[3 * i + 2] = clipped;
    }
  } else {
    image.pixels = std::move(samples);
  }
  return oriented(image, orientation);
}

struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "corrupt";
  bool truncated = false;  // libjpeg fills what is missing with grey and only warns; Pillow refuses
};

void jpeg_error_handler(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}
// Warnings are quiet, except that the file ended early (JWRN_JPEG_EOF), which is remembered.
void jpeg_warning(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) reinterpret_cast<JpegErrors*>(cinfo->err)->truncated = true;
}

RgbImage read_jpeg(const std::string& path, std::FILE* file, std::uint64_t max_pixels) {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors;
  cinfo.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_error_handler;
  errors.manager.emit_message = jpeg_warning;
  RgbImage image;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw InputError(path, std::string("is not a readable JPEG: ") + errors.message, kImageHint);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, file);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);  // APP1: EXIF
  jpeg_read_header(&cinfo, TRUE);
  int orientation = 1;
  for (jpeg_saved_marker_ptr marker = cinfo.marker_list; marker != nullptr; marker = marker->next)
    if (marker->marker == JPEG_APP0 + 1 && marker->data_length > 6 && std::memcmp(marker->data, "Exif\0\0", 6) == 0)
      orientation = exif_orientation(marker->data + 6, marker->data_length - 6);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::snprintf(errors.message, sizeof errors.message, "CMYK JPEGs are not supported");
    longjmp(errors.jump, 1);
  }
  // From the frame header, before the decoder allocates anything for it (a progressive JPEG would
  // allocate its whole coefficient buffer at start).
  if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
      static_cast<std::uint64_t>(cinfo.image_width) * cinfo.image_height > max_pixels) {
    jpeg_destroy_decompress(&cinfo);
    check_size(path, cinfo.image_width, cinfo.image_height, max_pixels);
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  check_size(path, cinfo.output_width, cinfo.output_height, max_pixels);
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.pixels.resize(static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.pixels.data() +
                   static_cast<std::size_t>(cinfo.output_scanline) * static_cast<std::size_t>(image.width) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (errors.truncated)
    throw InputError(path, "is truncated: the JPEG ends before its last pixel (Pillow refuses it too)",
                     "pass the whole file");
  return oriented(image, orientation);
}

// A PNG or a JPEG, by its first bytes.
RgbImage decode(const std::string& path, std::FILE* file, std::uint64_t max_pixels) {
  unsigned char magic[8] = {};
  const std::size_t got = std::fread(magic, 1, sizeof magic, file);
  std::rewind(file);
  if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) return read_png(path, file, max_pixels);
  if (got >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) return read_jpeg(path, file, max_pixels);
  throw InputError(path, "is neither a PNG nor a JPEG (by its first bytes)", kImageHint);
}

}  // namespace

RgbImage read_image(const std::string& path, std::uint64_t max_pixels) {
  // Opened without blocking, so that a FIFO is refused instead of waited on.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw InputError(path, std::string("cannot be opened: ") + std::strerror(errno), "check the path to the image");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path, "is not a regular file", "pass a PNG or JPEG file");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  File file(::fdopen(fd, "rb"));
  if (!file) {
    ::close(fd);
    throw InputError(path, std::string("cannot be opened: ") + std::strerror(errno), "check the path to the image");
  }
  return decode(path, file.get(), max_pixels);
}

RgbImage read_image_bytes(const std::string& name, const std::string& bytes, std::uint64_t max_pixels) {
  if (bytes.empty()) throw InputError(name, "is empty", kImageHint);
  // A stream over the bytes themselves: the decoders read it as they read a file.
  File file(::fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "rb"));
  if (!file) throw JobError("cannot read " + name + " from memory: " + std::strerror(errno));
  return decode(name, file.get(), max_pixels);
}

std::string encode_png(const RgbImage& image) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = PNG_FORMAT_RGB;
  // First the size, then the bytes: libpng writes to memory only, never to a file it could remove.
  png_alloc_size_t bytes = 0;
  if (!png_image_write_to_memory(&png, nullptr, &bytes, 0, image.pixels.data(), 0, nullptr))
    throw JobError(std::string("could not encode the PNG: ") + png.message);
  std::string out(bytes, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &bytes, 0, image.pixels.data(), 0, nullptr))
    throw JobError(std::string("could not encode the PNG: ") + png.message);
  out.resize(bytes);
  return out;
}

void write_png(const std::string& path, const RgbImage& image) {
  write_output_file(path, encode_png(image), "the picture");
}

}  // namespace vramguard::pipelines
