// The edit's two views of its input image equal what diffusers and transformers made of the
// fixture's input.png: the VAE's input (resized to a ~1024² area with Lanczos, in [-1, 1]) and the
// Qwen2-VL processor's flattened patches (smart_resize within its pixel bounds, bicubic, normalized).
// Image files that are not PNG or JPEG, or are broken, are refused naming the file.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "image/image_file.hpp"
#include "image/qwen2_vl_processor.hpp"
#include "image/vae_image.hpp"
#include "support/stored_tensors.hpp"
#include "support/temp_dir.hpp"

namespace vramguard::pipelines {
namespace {
using testing::TempDir;

const std::string kFixture = std::string(TEST_DATA_DIR) + "/fixtures/qie_pipeline_tiny";

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

}  // namespace
}  // namespace vramguard::pipelines
