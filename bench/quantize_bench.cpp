// Quantizing a bf16 weight to fp8 as it loads (--weight-dtype COMPONENT=fp8), on one CPU thread: the
// scale pass (read_fp8_scales: the largest magnitude) and the conversion pass (read_tensor with the
// scale), over one MLP weight of the full-size Qwen-Image transformer (3072 x 12288 bf16, 75.5 MB, random
// values, in the page cache). The loader runs one such thread per core; a 41 GB transformer is ~540 of
// these. ./build/bin/bench_quantize [RUNS]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "core/tensor_read.hpp"

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  constexpr std::uint64_t rows = 3072, cols = 12288, elements = rows * cols;
  const std::string path = "/tmp/vramguard-quantize-bench.bin";
  {
    std::vector<std::uint16_t> bf16(elements);
    std::mt19937 random(7);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : bf16) {
      const float f = normal(random);
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      v = static_cast<std::uint16_t>(bits >> 16);
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::write(fd, bf16.data(), elements * 2) != static_cast<ssize_t>(elements * 2)) return 1;
    ::close(fd);
  }
  const int fd = ::open(path.c_str(), O_RDONLY);
  vramguard::UploadSource source;
  source.file = fd;
  source.path = &path;
  source.elements = elements;
  source.from = vramguard::DType::BF16;
  source.to = vramguard::DType::BF16;
  std::vector<unsigned char> out(elements);
  std::vector<float> scales;
  for (const bool per_row : {false, true}) {
    const auto scale_pass =
        vramguard::bench::time_runs(runs, [&] { scales = vramguard::read_fp8_scales(source, rows, per_row); });
    vramguard::UploadSource quantize = source;
    quantize.to = vramguard::DType::F8_E4M3;
    quantize.quantize_scales = scales.data();
    quantize.scale_row_elements = per_row ? cols : 0;
    const auto convert_pass = vramguard::bench::time_runs(runs, [&] { vramguard::read_tensor(quantize, out.data()); });
    const double gb = static_cast<double>(elements) * 2 / 1e9;
    std::printf("%s scales: scale pass %.1f ms (%.2f GB/s of bf16), conversion pass %.1f ms (%.2f GB/s); checksum %u\n",
                per_row ? "per-row   " : "per-tensor", scale_pass.median_ms, gb / scale_pass.median_ms * 1e3,
                convert_pass.median_ms, gb / convert_pass.median_ms * 1e3,
                static_cast<unsigned>(out[12345] + out[elements - 1] + out[elements / 2]));
  }
  ::close(fd);
  ::unlink(path.c_str());
  return 0;
}
