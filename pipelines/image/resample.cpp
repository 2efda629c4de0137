#include "image/resample.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace vramguard::pipelines {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

// For each output position: the first input index, how many inputs it reads, and their weights
// (ksize per position), normalized to sum to one; Pillow then holds them in fixed point.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int> weights;
  std::vector<double> normalized;
};

Coefficients coefficients(int in_size, int out_size, ResampleFilter filter) {
  const double support_unscaled = filter == ResampleFilter::bicubic ? 2.0 : 3.0;
  double (*kernel)(double) = filter == ResampleFilter::bicubic ? bicubic : lanczos;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = support_unscaled * filter_scale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<std::size_t>(out_size));
  c.count.resize(static_cast<std::size_t>(out_size));
  c.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(c.ksize), 0);
  c.normalized.assign(c.weights.size(), 0.0);
  std::vector<double> w(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    // Pillow truncates toward zero here ((int) casts of values that can be negative before clamping).
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double total = 0;
    for (int x = 0; x < xmax; ++x) {
      w[static_cast<std::size_t>(x)] = kernel((x + xmin - center + 0.5) * ss);
      total += w[static_cast<std::size_t>(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      const double normalized = total != 0.0 ? w[static_cast<std::size_t>(x)] / total : w[static_cast<std::size_t>(x)];
      c.normalized[static_cast<std::size_t>(xx * c.ksize + x)] = normalized;
      c.weights[static_cast<std::size_t>(xx * c.ksize + x)] = static_cast<int>(
          normalized < 0 ? -0.5 + normalized * (1 << kPrecisionBits) : 0.5 + normalized * (1 << kPrecisionBits));
    }
    c.first[static_cast<std::size_t>(xx)] = xmin;
    c.count[static_cast<std::size_t>(xx)] = xmax;
  }
  return c;
}

std::uint8_t clip8(long long value, int bits) {
  if (value >= (1LL << bits << 8)) return 255;
  if (value <= 0) return 0;
  return static_cast<std::uint8_t>(value >> bits);
}

RgbImage horizontal(const RgbImage& in, int width, int first_row, int rows, const Coefficients& c, int bits) {
  RgbImage out{width, rows,
               std::vector<std::uint8_t>(static_cast<std::size_t>(width) * static_cast<std::size_t>(rows) * 3)};
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < width; ++x) {
      const int* k = &c.weights[static_cast<std::size_t>(x * c.ksize)];
      const int xmin = c.first[static_cast<std::size_t>(x)], count = c.count[static_cast<std::size_t>(x)];
      for (int ch = 0; ch < 3; ++ch) {
        long long sum = 1LL << (bits - 1);
        for (int i = 0; i < count; ++i) sum += static_cast<long long>(in.at(xmin + i, y + first_row, ch)) * k[i];
        out.pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3 +
                   static_cast<std::size_t>(ch)] = clip8(sum, bits);
      }
    }
  return out;
}

RgbImage vertical(const RgbImage& in, int height, const Coefficients& c, int shift, int bits) {
  RgbImage out{in.width, height,
               std::vector<std::uint8_t>(static_cast<std::size_t>(in.width) * static_cast<std::size_t>(height) * 3)};
  for (int y = 0; y < height; ++y) {
    const int* k = &c.weights[static_cast<std::size_t>(y * c.ksize)];
    const int ymin = c.first[static_cast<std::size_t>(y)] - shift, count = c.count[static_cast<std::size_t>(y)];
    for (int x = 0; x < in.width; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        long long sum = 1LL << (bits - 1);
        for (int i = 0; i < count; ++i) sum += static_cast<long long>(in.at(x, ymin + i, ch)) * k[i];
        out.pixels[(static_cast<std::size_t>(y) * static_cast<std::size_t>(in.width) + static_cast<std::size_t>(x)) *
                       3 +
                   static_cast<std::size_t>(ch)] = clip8(sum, bits);
      }
  }
  return out;
}

// PyTorch's 8-bit antialiased kernel holds the weights in int16: as many fraction bits (at most 22)
// as keep the largest weight of the pass below 2^15.
int int16_precision(const Coefficients& c) {
  double largest = 0;
  for (const double w : c.normalized) largest = std::max(largest, w);
  int bits = 0;
  for (; bits < 22; ++bits)
    if (static_cast<int>(0.5 + largest * (1 << (bits + 1))) >= (1 << 15)) break;
  return bits;
}

Coefficients with_precision(Coefficients c, int bits) {
  for (std::size_t i = 0; i < c.weights.size(); ++i) {
    const double v = c.normalized[i] * (1 << bits);
    c.weights[i] = static_cast<int>(v < 0 ? v - 0.5 : v + 0.5);
  }
  return c;
}

}  // namespace

RgbImage resize_like_torchvision(const RgbImage& image, int width, int height, ResampleFilter filter) {
  if (width < 1 || height < 1 || image.width < 1 || image.height < 1)
    throw std::invalid_argument("resize_like_torchvision: sizes must be positive");
  if (width == image.width && height == image.height) return image;
  const Coefficients horizontal_f = coefficients(image.width, width, filter),
                     vertical_f = coefficients(image.height, height, filter);
  const int horizontal_bits = int16_precision(horizontal_f), vertical_bits = int16_precision(vertical_f);
  RgbImage current = image;
  if (width != image.width)
    current = horizontal(image, width, 0, image.height, with_precision(horizontal_f, horizontal_bits), horizontal_bits);
  if (height != image.height)
    current = vertical(current, height, with_precision(vertical_f, vertical_bits), 0, vertical_bits);
  return current;
}

RgbImage resize_like_pillow(const RgbImage& image, int width, int height, ResampleFilter filter) {
  if (width < 1 || height < 1 || image.width < 1 || image.height < 1)
    throw std::invalid_argument("resize_like_pillow: sizes must be positive");
  if (width == image.width && height == image.height) return image;  // Pillow returns a copy
  const Coefficients horizontal_c = coefficients(image.width, width, filter);
  const Coefficients vertical_c = coefficients(image.height, height, filter);
  RgbImage current = image;
  int shift = 0;
  if (width != image.width) {
    // Only the rows the vertical pass reads.
    const int first_row = vertical_c.first.front();
    const int last_row = vertical_c.first.back() + vertical_c.count.back();
    current = horizontal(image, width, first_row, last_row - first_row, horizontal_c, kPrecisionBits);
    shift = first_row;
  }
  if (height != image.height) current = vertical(current, height, vertical_c, shift, kPrecisionBits);
  return current;
}

}  // namespace vramguard::pipelines
