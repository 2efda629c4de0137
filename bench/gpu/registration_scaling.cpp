// How fast can the driver make a page-cached file readable by the GPU, and does it scale with threads?
// The resident load's rate hangs on it: staging copies out of the page cache are bounded by the host's
// CPUs (bench_page_cache), registration is not. For each thread count, threads take PIECE-byte pieces of
// the mapped FILE in turn and (1) only register them, or (2) register each, copy it to the GPU on the
// thread's own stream and unregister it once copied: the path a load would take. Pinned host→device
// bandwidth is measured in the same run, for the ratio.
//
//   registration_scaling FILE [PIECE_MIB=512] [THREADS=1,2,4,8,16]
// Built by run-registration-proofs.sh with the CUDA toolkit (nvcc), not by the project's CMake.
#include <cuda_runtime.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
  std::exit(1);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double pinned_bandwidth(unsigned char* device, std::size_t bytes) {
  void* host = nullptr;
  check(cudaHostAlloc(&host, bytes, cudaHostAllocDefault), "cudaHostAlloc");
  check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "warm-up copy");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  const double rate = 5.0 * static_cast<double>(bytes) / seconds_since(start);
  cudaFreeHost(host);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: registration_scaling FILE [PIECE_MIB] [THREADS,...]\n");
    return 2;
  }
  const std::size_t piece = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 512) << 20;
  std::vector<int> thread_counts;
  std::stringstream list(argc > 3 ? argv[3] : "1,2,4,8,16");
  for (std::string item; std::getline(list, item, ',');) thread_counts.push_back(std::stoi(item));

  const int fd = ::open(argv[1], O_RDONLY);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    std::perror(argv[1]);
    return 2;
  }
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t size = static_cast<std::size_t>(st.st_size) / page * page;
  auto* mapping = static_cast<unsigned char*>(::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0));
  if (mapping == MAP_FAILED) {
    std::perror("mmap");
    return 2;
  }
  const std::size_t pieces = (size + piece - 1) / piece;
  unsigned char* device = nullptr;
  check(cudaMalloc(&device, size), "cudaMalloc");
  std::printf("file %.2f GB in %zu pieces of %zu MiB; pinned host->device %.1f GB/s\n", size / 1e9, pieces, piece >> 20,
              pinned_bandwidth(device, 1ULL << 30) / 1e9);

  for (const int threads : thread_counts) {
    for (const bool copy : {false, true}) {
      std::atomic<std::size_t> next{0};
      std::atomic<bool> failed{false};
      std::vector<std::thread> workers;
      const auto start = std::chrono::steady_clock::now();
      for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
          cudaStream_t stream{};
          check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
          std::vector<std::pair<void*, cudaEvent_t>> registered;
          for (std::size_t i; (i = next++) < pieces;) {
            const std::size_t begin = i * piece, bytes = std::min(piece, size - begin);
            if (cudaHostRegister(mapping + begin, bytes, cudaHostRegisterReadOnly | cudaHostRegisterPortable) !=
                cudaSuccess) {
              failed = true;
              return;
            }
            cudaEvent_t done{};
            if (copy) {
              check(cudaMemcpyAsync(device + begin, mapping + begin, bytes, cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync");
              check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
              check(cudaEventRecord(done, stream), "cudaEventRecord");
            }
            registered.emplace_back(mapping + begin, done);
            // Unregister what has been copied, so that a load holds few registrations at once.
            while (copy && registered.size() > 1 && cudaEventQuery(registered.front().second) == cudaSuccess) {
              cudaEventDestroy(registered.front().second);
              cudaHostUnregister(registered.front().first);
              registered.erase(registered.begin());
            }
          }
          for (auto& [address, done] : registered) {
            if (done != nullptr) {
              cudaEventSynchronize(done);
              cudaEventDestroy(done);
            }
            if (copy) cudaHostUnregister(address);
          }
          if (!copy)
            for (auto& [address, done] : registered) cudaHostUnregister(address);
          cudaStreamSynchronize(stream);
          cudaStreamDestroy(stream);
        });
      for (auto& w : workers) w.join();
      const double elapsed = seconds_since(start);
      if (failed) {
        std::printf("threads %2d %s: the driver refused a registration\n", threads,
                    copy ? "register+copy" : "register");
        continue;
      }
      std::printf("threads %2d %-14s %.3f s = %.1f GB/s%s\n", threads, copy ? "register+copy" : "register+unreg",
                  elapsed, size / elapsed / 1e9, copy ? "" : " (registration and unregistration)");
      std::fflush(stdout);
    }
  }
  cudaFree(device);
  return 0;
}
