// The page cache's read rate for the given files, with the loader's pattern: THREADS threads reading
// 32 MiB chunks with pread. The load benchmark's other bound ("the slower of the page cache and the
// pinned copy"). Usage: bench_page_cache THREADS FILE...
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS FILE...\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  constexpr std::uint64_t kChunk = 32ULL << 20;
  struct Job {
    int fd;
    std::uint64_t offset, bytes;
  };
  std::vector<Job> jobs;
  for (int i = 2; i < argc; ++i) {
    const int fd = ::open(argv[i], O_RDONLY);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      std::fprintf(stderr, "cannot open %s\n", argv[i]);
      return 2;
    }
    for (std::uint64_t off = 0; off < static_cast<std::uint64_t>(st.st_size); off += kChunk)
      jobs.push_back({fd, off, std::min<std::uint64_t>(kChunk, static_cast<std::uint64_t>(st.st_size) - off)});
  }
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> total{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<char> buffer(kChunk, 1);  // touched once, before timing matters
      for (std::size_t j; (j = next++) < jobs.size();) {
        const ssize_t n = ::pread(jobs[j].fd, buffer.data(), jobs[j].bytes, static_cast<off_t>(jobs[j].offset));
        if (n > 0) total += static_cast<std::uint64_t>(n);
      }
    });
  for (auto& t : pool) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"threads\": %d, \"bytes\": %llu, \"seconds\": %.3f, \"bytes_per_s\": %.0f}\n", threads,
              static_cast<unsigned long long>(total.load()), seconds, static_cast<double>(total.load()) / seconds);
  return 0;
}
