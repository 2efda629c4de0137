#include "load/quantization_scales.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "core/errors.hpp"
#include "model/model_inspector.hpp"

namespace vramguard {

QuantizationScales::QuantizationScales(const InspectedModel& model, const SourceOf& source_of) {
  struct Job {
    std::size_t component;
    std::string weight;
    QuantizedWeight quantized;
    UploadSource source;
    Weight* out;
  };
  std::vector<Job> jobs;
  for (std::size_t c = 0; c < model.components.size(); ++c)
    for (const auto& [weight, quantized] : model.components[c].quantized) {
      Weight& out = scales_[{c, weight}];
      out.stored = quantized.source_dtype;
      scale_tensors_[{c, quantized.scale}] = weight;
      jobs.push_back({c, weight, quantized, source_of(c, weight, quantized.source_dtype), &out});
    }
  if (jobs.empty()) return;

  // The weights are read in parallel (a transformer's are tens of GB); the first failure is rethrown.
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  const unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 16));
  std::vector<std::thread> readers;
  for (unsigned t = 0; t < std::min<std::size_t>(threads, jobs.size()); ++t)
    readers.emplace_back([&] {
      for (std::size_t j; !failed.load() && (j = next.fetch_add(1)) < jobs.size();) {
        Job& job = jobs[j];
        try {
          const auto rows = static_cast<std::uint64_t>(job.quantized.rows);
          job.out->scales = read_fp8_scales(job.source, rows, job.quantized.per_row);
          job.out->row_elements = job.quantized.per_row ? job.source.elements / std::max<std::uint64_t>(1, rows) : 0;
        } catch (...) {
          if (!failed.exchange(true)) failure = std::current_exception();
        }
      }
    });
  for (auto& reader : readers) reader.join();
  if (failure) std::rethrow_exception(failure);

  // The scale tensors' values, laid end to end in an in-memory file that the loader and the streaming
  // lanes read as they read a checkpoint.
  memfd_ = ::memfd_create(memfd_name_.c_str(), MFD_CLOEXEC);
  if (memfd_ < 0) throw JobError(std::string("cannot hold the fp8 scales in memory: ") + std::strerror(errno));
  std::uint64_t offset = 0;
  for (auto& [key, weight] : scales_) {
    weight.file_offset = offset;
    const auto bytes = weight.scales.size() * sizeof(float);
    for (std::uint64_t done = 0; done < bytes;) {
      const ssize_t n = ::pwrite(memfd_, reinterpret_cast<const char*>(weight.scales.data()) + done, bytes - done,
                                 static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw JobError(std::string("cannot hold the fp8 scales in memory: ") + std::strerror(errno));
      done += static_cast<std::uint64_t>(n);
    }
    offset += bytes;
  }
}

QuantizationScales::~QuantizationScales() {
  if (memfd_ >= 0) ::close(memfd_);
}

std::optional<UploadSource> QuantizationScales::scale_source(std::size_t component, const std::string& tensor,
                                                             DType to) const {
  const auto it = scale_tensors_.find({component, tensor});
  if (it == scale_tensors_.end()) return std::nullopt;
  const Weight& weight = scales_.at({component, it->second});
  UploadSource scale;
  scale.file = memfd_;
  scale.path = &memfd_name_;
  scale.file_offset = weight.file_offset;
  scale.elements = weight.scales.size();
  scale.from = DType::F32;
  scale.to = to;
  return scale;
}

void QuantizationScales::quantize(std::size_t component, const std::string& tensor, UploadSource& source) const {
  const auto it = scales_.find({component, tensor});
  if (it == scales_.end()) return;
  source.from = it->second.stored;
  source.to = DType::F8_E4M3;
  source.quantize_scales = it->second.scales.data();
  source.scale_row_elements = it->second.row_elements;
  source.tensor_file_offset = source.file_offset;
  source.mapping = nullptr;  // never copied as it is stored
}

}  // namespace vramguard
