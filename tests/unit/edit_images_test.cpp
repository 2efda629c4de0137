// The edit's two views of its input image equal what diffusers and transformers made of the
// fixture's input.png: the VAE's input (resized to a ~1024² area with Lanczos, in [-1, 1]) and the
// Qwen2-VL processor's flattened patches (smart_resize within its pixel bounds, bicubic, normalized).
// Image files that are not PNG or JPEG, or are broken, truncated, not regular files or decompression
// bombs, are refused naming the file; a PNG that cannot be written never costs the file that was there.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "image/exif_orientation.hpp"
#include "image/image_file.hpp"
#include "image/qwen2_vl_processor.hpp"
#include "image/vae_image.hpp"
#include "support/stored_tensors.hpp"
#include "support/temp_dir.hpp"

namespace vramguard::pipelines {
namespace {
using testing::TempDir;

const std::string kFixture = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny";

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A baseline JPEG of `image` (quality 100), made with libjpeg; tagged with an EXIF orientation unless 0.
std::string jpeg_bytes(const RgbImage& image, int orientation = 0) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr errors{};
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  if (orientation) {
    // "Exif\0\0", then TIFF big-endian: one IFD entry, orientation (0x0112), SHORT, count 1.
    const unsigned char exif[] = {
        'E', 'x', 'i', 'f',  0,    0, 'M', 'M', 0, 42, 0, 0, 0,
        8,   0,   1,   0x01, 0x12, 0, 3,   0,   0, 0,  1, 0, static_cast<unsigned char>(orientation),
        0,   0,   0,   0,    0,    0};
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, exif, sizeof exif);
  }
  while (cinfo.next_scanline < cinfo.image_height) {
    auto row = const_cast<JSAMPROW>(image.pixels.data() + static_cast<std::size_t>(cinfo.next_scanline) *
                                                              static_cast<std::size_t>(image.width) * 3);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return out;
}

// A JPEG of a gradient.
std::string jpeg_of(int width, int height) {
  RgbImage image{width, height, {}};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width * 3; ++x) image.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 3) % 256));
  return jpeg_bytes(image);
}

template <typename Error>
void expect_refused_with(const std::string& path, const std::string& why,
                         std::uint64_t max_pixels = kDefaultMaxImagePixels) {
  try {
    read_image(path, max_pixels);
    FAIL() << "read " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

TEST(EditImages, VaeInputEqualsDiffusers) {
  const RgbImage input = read_image(kFixture + "/input.png");
  ASSERT_EQ(input.width, 300);
  ASSERT_EQ(input.height, 200);
  const auto [width, height] = area_dimensions(1024.0 * 1024.0, static_cast<double>(input.width) / input.height);
  EXPECT_EQ(width, 1248);
  EXPECT_EQ(height, 832);
  const PlanarImage vae = to_vae_input(resize_for_vae(input, width, height));
  std::vector<std::int64_t> shape;
  const auto expected = testing::stored_tensor<float>(kFixture + "/expected.safetensors", "vae_input", &shape);
  ASSERT_EQ(shape, (std::vector<std::int64_t>{1, 3, 1, height, width}));
  ASSERT_EQ(vae.values.size(), expected.size());
  // Pillow's Lanczos reproduced to the bit: every 8-bit value equal, so the floats are too.
  EXPECT_LE(largest_difference(vae.values, expected), 1e-6);
}

TEST(EditImages, ProcessorPatchesEqualTransformers) {
  const RgbImage input = read_image(kFixture + "/input.png");
  const auto [width, height] = area_dimensions(1024.0 * 1024.0, static_cast<double>(input.width) / input.height);
  const auto config = Qwen2VlProcessorConfig::from_file(kFixture + "/pipeline/processor/processor_config.json");
  EXPECT_EQ(config.max_pixels, 448 * 448);
  // The processor sees the image the VAE resize made (the pipeline hands it the resized picture).
  const ProcessedImage processed = process_for_qwen2_vl(resize_for_vae(input, width, height), config);
  const auto grid =
      testing::stored_tensor<std::int64_t>(kFixture + "/expected.safetensors", "prompt_processor_image_grid_thw");
  EXPECT_EQ(std::vector<std::int64_t>(processed.grid_thw.begin(), processed.grid_thw.end()), grid);
  std::vector<std::int64_t> shape;
  const auto expected =
      testing::stored_tensor<float>(kFixture + "/expected.safetensors", "prompt_processor_pixel_values", &shape);
  ASSERT_EQ(shape, (std::vector<std::int64_t>{processed.patches, processed.patch_values}));
  // torchvision's 8-bit antialiased bicubic reproduced to the bit (Pillow's own differs by one level
  // in 0.4 % of these values); what remains is float32 arithmetic in the normalization.
  EXPECT_LE(largest_difference(processed.pixel_values, expected), 1e-5);
}

TEST(EditImages, SmartResizeKeepsWithinThePixelBoundsInMultiplesOfTheFactor) {
  EXPECT_EQ(smart_resize(832, 1248, 28, 3136, 448 * 448), (std::pair{364, 532}));
  const auto [h, w] = smart_resize(10, 12, 28, 3136, 448 * 448);  // too small: scaled up
  EXPECT_GE(h * w, 3136);
  EXPECT_EQ(h % 28, 0);
  EXPECT_THROW(smart_resize(10, 4000, 28, 3136, 448 * 448), UsageError);
}

TEST(EditImages, WrittenPngReadsBackEqual) {
  TempDir dir;
  RgbImage image{5, 3, {}};
  for (int i = 0; i < 5 * 3 * 3; ++i) image.pixels.push_back(static_cast<std::uint8_t>(i * 17));
  const std::string path = (dir.path() / "out.png").string();
  write_png(path, image);
  const RgbImage back = read_image(path);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.pixels, image.pixels);
}

TEST(EditImages, RefusesFilesThatAreNotReadableImagesNamingThem) {
  TempDir dir;
  auto expect_refused = [](const std::string& path, const std::string& why) {
    try {
      read_image(path);
      FAIL() << "read " << path;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  expect_refused((dir.path() / "missing.png").string(), "cannot be opened");
  const std::string text = (dir.path() / "notes.png").string();
  std::ofstream(text) << "not an image at all";
  expect_refused(text, "neither a PNG nor a JPEG");
  // A real PNG cut in half.
  std::ifstream in(kFixture + "/input.png", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = (dir.path() / "cut.png").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_refused(cut, "not a readable PNG");
  const std::string jpeg = (dir.path() / "broken.jpg").string();
  std::ofstream(jpeg, std::ios::binary) << std::string("\xFF\xD8\xFF\xE0garbage", 11);
  expect_refused(jpeg, "not a readable JPEG");
}

TEST(EditImages, AJpegThatEndsEarlyIsRefusedAsPillowRefusesIt) {
  // libjpeg fills the missing rows with grey and only warns; the edit once ran on half a picture.
  TempDir dir;
  const std::string whole = jpeg_of(64, 64);
  const std::string path = (dir.path() / "cut.jpg").string();
  std::ofstream(path, std::ios::binary) << whole.substr(0, whole.size() * 2 / 3);
  expect_refused_with<InputError>(path, "is truncated");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << whole;
  EXPECT_EQ(read_image(path).width, 64);
}

TEST(EditImages, ADecompressionBombIsRefusedFromItsHeaderBeforeDecoding) {
  TempDir dir;
  // A JPEG whose frame header claims 65000 x 65000 pixels (19 KB of file, 12.7 GB of pixels).
  std::string bytes = jpeg_of(16, 16);
  const auto frame = bytes.find("\xFF\xC0");
  ASSERT_NE(frame, std::string::npos);
  for (std::size_t at : {frame + 5, frame + 7}) {  // height, then width: 16-bit big-endian
    bytes[at] = static_cast<char>(65000 >> 8);
    bytes[at + 1] = static_cast<char>(65000 & 0xFF);
  }
  const std::string bomb = (dir.path() / "bomb.jpg").string();
  std::ofstream(bomb, std::ios::binary) << bytes;
  expect_refused_with<InputError>(bomb, "65000x65000 pixels, more than the 178956970");
  // The limit is Pillow's by default, and the caller's to raise or lower.
  expect_refused_with<InputError>(kFixture + "/input.png", "decompression bomb", 1000);
}

TEST(EditImages, AFifoIsRefusedNotWaitedOn) {
  TempDir dir;
  const std::string fifo = (dir.path() / "pipe.png").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_refused_with<InputError>(fifo, "is not a regular file");
}

TEST(EditImages, APngThatCannotBeWrittenLeavesTheFileThatWasThere) {
  // libpng's png_image_write_to_file removes its target when a write fails: an edit's failed write
  // once deleted the file it was to replace (and, as root, /dev/full itself).
  TempDir dir;
  RgbImage noise{256, 256, {}};
  for (unsigned i = 0; i < 256 * 256 * 3; ++i)
    noise.pixels.push_back(static_cast<std::uint8_t>((i * 2654435761u) >> 24));
  const std::string path = (dir.path() / "kept.png").string();
  std::ofstream(path) << "what was here";
  // Writes past 512 bytes fail (EFBIG) for this process, as a full disk would; the PNG is larger.
  struct rlimit previous {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = previous;
  small.rlim_cur = 512;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool refused = false;
  try {
    write_png(path, noise);
  } catch (const JobError& e) {
    refused = true;
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &previous);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(refused);
  EXPECT_GT(encode_png(noise).size(), 512u);
  EXPECT_TRUE(bytes_of(path) == "what was here") << "the file was replaced or removed";
  // Nothing left beside it either.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) files += entry.is_regular_file() ? 1u : 0u;
  EXPECT_EQ(files, 1u);
}

TEST(EditImages, ALinkPlantedAtTheOutputIsNeverWrittenThrough) {
  TempDir dir;
  const std::string precious = (dir.path() / "precious.txt").string(), link = (dir.path() / "out.png").string();
  std::ofstream(precious) << "keep me";
  ASSERT_EQ(::symlink(precious.c_str(), link.c_str()), 0);
  EXPECT_THROW(write_png(link, RgbImage{1, 1, {0, 0, 0}}), UsageError);
  EXPECT_EQ(bytes_of(precious), "keep me");
}

TEST(EditImages, ASixteenBitGreyPngIsClippedAsPillowConvertsIt) {
  // Pillow reads it as mode I;16 and convert("RGB") clips to 255; vramguard once took the high byte.
  TempDir dir;
  const std::vector<std::uint16_t> values = {0, 100, 255, 256, 30000, 65535};
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(values.size());
  png.height = 1;
  png.format = PNG_FORMAT_LINEAR_Y;  // 16-bit grey, written as given
  const std::string path = (dir.path() / "grey16.png").string();
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, values.data(), 0, nullptr)) << png.message;
  const RgbImage image = read_image(path);
  ASSERT_EQ(image.width, static_cast<int>(values.size()));
  const std::vector<std::uint8_t> expected = {0, 100, 255, 255, 255, 255};
  for (std::size_t i = 0; i < values.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(image.pixels[3 * i + static_cast<std::size_t>(c)], expected[i]) << i;
}

// A JPEG of two solid halves (left red, right blue), tagged with an EXIF orientation unless 0.
std::string halves_jpeg(int orientation) {
  RgbImage image{16, 8, {}};
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 16; ++x)
      image.pixels.insert(image.pixels.end(), {std::uint8_t(x < 8 ? 255 : 0), 0, std::uint8_t(x < 8 ? 0 : 255)});
  return jpeg_bytes(image, orientation);
}

TEST(EditImages, AJpegIsTurnedAsItsExifOrientationSaysAsDiffusersLoadImageTurnsIt) {
  TempDir dir;
  const std::string plain = (dir.path() / "plain.jpg").string(), turned = (dir.path() / "turned.jpg").string();
  std::ofstream(plain, std::ios::binary) << halves_jpeg(0);
  std::ofstream(turned, std::ios::binary) << halves_jpeg(6);  // stored sideways: a quarter turn clockwise
  const RgbImage as_stored = read_image(plain), upright = read_image(turned);
  EXPECT_EQ(as_stored.width, 16);
  EXPECT_EQ(as_stored.height, 8);
  ASSERT_EQ(upright.width, 8);
  ASSERT_EQ(upright.height, 16);
  EXPECT_GT(upright.at(4, 3, 0), 240);  // the left half (red) is now the top
  EXPECT_LT(upright.at(4, 3, 2), 15);
  EXPECT_GT(upright.at(4, 12, 2), 240);  // and the right half (blue) the bottom
  EXPECT_LT(upright.at(4, 12, 0), 15);
}

TEST(EditImages, EachOrientationIsPillowsTranspose) {
  // A 3x2 picture whose pixels are numbered 0..5 row by row (in the red channel).
  RgbImage image{3, 2, {}};
  for (std::uint8_t i = 0; i < 6; ++i) image.pixels.insert(image.pixels.end(), {i, 0, 0});
  auto reds = [](const RgbImage& im) {
    std::vector<int> out;
    for (std::size_t i = 0; i < im.pixels.size(); i += 3) out.push_back(im.pixels[i]);
    return out;
  };
  // 0 1 2      as Pillow's transposes turn it (rows of the result, top to bottom)
  // 3 4 5
  EXPECT_EQ(reds(oriented(image, 1)), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(reds(oriented(image, 2)), (std::vector<int>{2, 1, 0, 5, 4, 3}));  // mirrored
  EXPECT_EQ(reds(oriented(image, 3)), (std::vector<int>{5, 4, 3, 2, 1, 0}));  // half a turn
  EXPECT_EQ(reds(oriented(image, 4)), (std::vector<int>{3, 4, 5, 0, 1, 2}));  // flipped
  EXPECT_EQ(reds(oriented(image, 5)), (std::vector<int>{0, 3, 1, 4, 2, 5}));  // transposed
  EXPECT_EQ(reds(oriented(image, 6)), (std::vector<int>{3, 0, 4, 1, 5, 2}));  // a quarter turn clockwise
  EXPECT_EQ(reds(oriented(image, 7)), (std::vector<int>{5, 2, 4, 1, 3, 0}));  // transverse
  EXPECT_EQ(reds(oriented(image, 8)), (std::vector<int>{2, 5, 1, 4, 0, 3}));  // counter-clockwise
  EXPECT_EQ(oriented(image, 6).width, 2);
  // Malformed EXIF leaves the picture as it is, as Pillow does.
  const unsigned char junk[] = {'M', 'M', 0, 42, 0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_EQ(exif_orientation(junk, sizeof junk), 1);
}

}  // namespace
}  // namespace vramguard::pipelines
