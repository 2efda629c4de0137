#include "devices/simulated_runtime.hpp"

#include "core/errors.hpp"
#include "load/dtype_conversion.hpp"
#include "core/text.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

constexpr const char* kSpecForms =
    "a preset (rtx4080, rtx4090, a100-80gb, h100-80gb), or GPUs separated by commas, each "
    "cuda:SIZE[@BANDWIDTH/s] or a preset name, e.g. \"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\" or \"rtx4090,rtx4090\"";

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : gpu_presets()) names.push_back(p.name);
  return names;
}

}  // namespace

// Capacities as the driver reports them; bandwidths are pinned host→device copies over the card's
// link; FLOP/s are dense bf16 tensor throughput from the vendor's specifications (docs/hardware.md).
const std::vector<GpuPreset>& gpu_presets() {
  static const std::vector<GpuPreset> presets = {
      {"rtx4080", "NVIDIA GeForce RTX 4080 16 GB (PCIe 4.0 x16)", 16ULL << 30, 25e9, 97.5e12},
      {"rtx4090", "NVIDIA GeForce RTX 4090 24 GB (PCIe 4.0 x16)", 24ULL << 30, 25e9, 165.2e12},
      {"a100-80gb", "NVIDIA A100 80 GB (PCIe 4.0 x16)", 80ULL << 30, 25e9, 312e12},
      {"h100-80gb", "NVIDIA H100 80 GB HBM3 (PCIe 5.0 x16)", 81559ULL << 20, 53.8e9, 989e12},
  };
  return presets;
}

// Accounting shared with the blocks, which may outlive the runtime object that made them.
struct SimulatedRuntime::State {
  std::vector<DeviceInfo> gpus;
  std::vector<std::uint64_t> used;          // ours, per GPU
  std::vector<std::uint64_t> others;        // the simulated other process, per GPU
  std::uint64_t host_capacity = 0;
  std::uint64_t host_used = 0;
  std::uint64_t allocations = 0;
  std::uint64_t live_blocks = 0;
  std::uint64_t backed_bytes = 0;           // blocks small enough to keep their data (for --verify-data)
  bool keep_data = false;
  SimulatedFaults faults;
};

namespace {

constexpr std::uint64_t kBackingLimit = 256ULL << 20;

class SimulatedBlock final : public MemoryBlock {
 public:
  SimulatedBlock(std::shared_ptr<SimulatedRuntime::State> state, int gpu, std::uint64_t bytes)
      : state_(std::move(state)), gpu_(gpu), bytes_(bytes),
        device_(gpu < 0 ? std::string("cpu") : "cuda:" + std::to_string(gpu)) {
    if (state_->keep_data && state_->backed_bytes + bytes <= kBackingLimit) {
      data_.resize(bytes);
      state_->backed_bytes += bytes;
    }
    ++state_->live_blocks;
  }
  ~SimulatedBlock() override {
    if (gpu_ < 0) state_->host_used -= bytes_;
    else state_->used[static_cast<std::size_t>(gpu_)] -= bytes_;
    state_->backed_bytes -= data_.size();
    --state_->live_blocks;
  }
  std::uint64_t size() const override { return bytes_; }
  const std::string& device() const override { return device_; }
  unsigned char* data() { return data_.empty() && bytes_ > 0 ? nullptr : data_.data(); }
  const unsigned char* data() const { return data_.empty() && bytes_ > 0 ? nullptr : data_.data(); }

 private:
  std::shared_ptr<SimulatedRuntime::State> state_;
  int gpu_;
  std::uint64_t bytes_;
  std::string device_;
  std::vector<unsigned char> data_;
};

void count_allocation(SimulatedRuntime::State& state, const std::string& device, std::uint64_t bytes) {
  ++state.allocations;
  if (state.faults.other_process && state.allocations > state.faults.other_process->after_allocations) {
    const auto& other = *state.faults.other_process;
    auto& taken = state.others.at(static_cast<std::size_t>(other.gpu));
    if (taken == 0) {
      const auto& gpu = state.gpus.at(static_cast<std::size_t>(other.gpu));
      const std::uint64_t room = gpu.free_bytes - state.used[static_cast<std::size_t>(other.gpu)];
      taken = std::min(other.bytes, room);
    }
  }
  if (state.faults.fail_at_allocation && state.allocations == *state.faults.fail_at_allocation)
    throw OutOfMemory(device, bytes, 0, "injected at allocation " + std::to_string(state.allocations));
}

}  // namespace

SimulatedRuntime::SimulatedRuntime(const std::string& spec, std::uint64_t host_bytes, SimulatedFaults faults, bool keep_data)
    : state_(std::make_shared<State>()) {
  state_->keep_data = keep_data;
  state_->host_capacity = host_bytes;
  state_->faults = faults;
  auto& gpus = state_->gpus;
  if (text::trim(spec).empty()) throw UsageError("--simulate is empty", std::string("accepted: ") + kSpecForms);
  for (const auto& raw : text::split(spec, ',')) {
    const std::string entry(text::trim(raw));
    DeviceInfo gpu;
    gpu.kind = DeviceKind::cuda;
    gpu.simulated = true;
    const GpuPreset* preset = nullptr;
    for (const auto& p : gpu_presets())
      if (p.name == entry) preset = &p;
    if (preset) {
      gpu.description = "simulated " + preset->description;
      gpu.total_bytes = preset->total_bytes;
      gpu.host_to_device_bytes_per_s = preset->host_to_device_bytes_per_s;
      gpu.compute_flops = preset->compute_flops;
    } else if (text::starts_with(entry, "cuda:")) {
      const std::string body = entry.substr(5);
      const auto at = body.find('@');
      try {
        gpu.total_bytes = parse_byte_size(body.substr(0, at));
        if (at != std::string::npos) {
          std::string rate = body.substr(at + 1);
          if (!text::ends_with(rate, "/s")) throw UsageError("bandwidth '" + rate + "' in --simulate must end in /s, e.g. 25GB/s");
          gpu.host_to_device_bytes_per_s = static_cast<double>(parse_byte_size(rate.substr(0, rate.size() - 2)));
        } else {
          gpu.host_to_device_bytes_per_s = default_cost_constants().default_host_to_device_bytes_per_s;
        }
      } catch (const InvalidByteSize& e) {
        throw UsageError("cannot read GPU '" + entry + "' in --simulate: " + e.what(), std::string("accepted: ") + kSpecForms);
      }
      if (gpu.total_bytes == 0) throw UsageError("GPU '" + entry + "' in --simulate has no memory");
      gpu.compute_flops = default_cost_constants().default_gpu_flops;
      gpu.description = "simulated GPU, " + format_bytes(gpu.total_bytes);
    } else {
      throw UsageError("unknown GPU '" + entry + "' in --simulate" + text::did_you_mean(entry, preset_names()),
                       std::string("accepted: ") + kSpecForms);
    }
    gpu.index = static_cast<int>(gpus.size());
    gpu.name = "cuda:" + std::to_string(gpu.index);
    gpu.context_bytes = std::min(gpu.total_bytes, default_cost_constants().cuda_context_bytes);
    gpu.free_bytes = gpu.total_bytes - gpu.context_bytes;
    gpus.push_back(gpu);
  }
  state_->used.assign(gpus.size(), 0);
  state_->others.assign(gpus.size(), 0);
  if (faults.other_process && static_cast<std::size_t>(faults.other_process->gpu) >= gpus.size())
    throw UsageError("the simulated other process uses cuda:" + std::to_string(faults.other_process->gpu) + ", which is not declared");
}

SimulatedRuntime::~SimulatedRuntime() = default;

std::vector<DeviceInfo> SimulatedRuntime::probe_gpus() {
  std::vector<DeviceInfo> gpus = state_->gpus;
  for (std::size_t g = 0; g < gpus.size(); ++g) {
    const std::uint64_t taken = state_->used[g] + state_->others[g];
    gpus[g].free_bytes = gpus[g].free_bytes > taken ? gpus[g].free_bytes - taken : 0;
  }
  return gpus;
}

std::unique_ptr<MemoryBlock> SimulatedRuntime::allocate_device(int gpu, std::uint64_t bytes) {
  State& s = *state_;
  const auto g = static_cast<std::size_t>(gpu);
  if (g >= s.gpus.size()) throw JobError("cuda:" + std::to_string(gpu) + " is not a simulated device");
  const std::string device = "cuda:" + std::to_string(gpu);
  count_allocation(s, device, bytes);
  const std::uint64_t capacity = s.gpus[g].free_bytes;  // after the context
  const std::uint64_t taken = s.used[g] + s.others[g];
  const std::uint64_t free = capacity > taken ? capacity - taken : 0;
  if (bytes > free) throw OutOfMemory(device, bytes, free);
  if (s.faults.fail_above_bytes && s.used[g] + bytes > *s.faults.fail_above_bytes)
    throw OutOfMemory(device, bytes, free, "injected above " + std::to_string(*s.faults.fail_above_bytes) + " bytes");
  s.used[g] += bytes;
  return std::make_unique<SimulatedBlock>(state_, gpu, bytes);
}

std::unique_ptr<MemoryBlock> SimulatedRuntime::allocate_pinned(std::uint64_t bytes) {
  State& s = *state_;
  count_allocation(s, "cpu", bytes);
  const std::uint64_t free = s.host_capacity > s.host_used ? s.host_capacity - s.host_used : 0;
  if (bytes > free) throw OutOfMemory("cpu", bytes, free, "pinned host memory");
  s.host_used += bytes;
  return std::make_unique<SimulatedBlock>(state_, -1, bytes);
}

void SimulatedRuntime::upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) {
  stage(destination, offset, source);
}

void SimulatedRuntime::stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) {
  const std::uint64_t bytes = source.elements * dtype_bits(source.to) / 8;
  if (offset + bytes > destination.size()) throw std::logic_error("upload past the end of a simulated block");
  auto& block = static_cast<SimulatedBlock&>(destination);
  if (unsigned char* data = block.data()) convert_elements(source.data, source.from, data + offset, source.to, source.elements);
}

void SimulatedRuntime::read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes, unsigned char* out) {
  const auto& simulated = static_cast<const SimulatedBlock&>(block);
  const unsigned char* data = simulated.data();
  if (data == nullptr)
    throw JobError("this simulated block on " + block.device() + " keeps no data (only the first 256 MiB of a run with "
                   "--verify-data do)", "--verify-data on simulated devices needs a model under 256 MiB");
  std::copy(data + offset, data + offset + bytes, out);
}

MemorySnapshot SimulatedRuntime::snapshot(int gpu) {
  const auto g = static_cast<std::size_t>(gpu);
  const DeviceInfo& info = state_->gpus.at(g);
  MemorySnapshot snap;
  snap.device = info.name;
  snap.total = info.total_bytes;
  const std::uint64_t taken = state_->used[g] + state_->others[g];
  snap.free = info.free_bytes > taken ? info.free_bytes - taken : 0;
  snap.ours_in_use = state_->used[g];
  snap.others = state_->others[g];
  snap.process_total = info.context_bytes + state_->used[g];
  return snap;
}

std::vector<GpuProcess> SimulatedRuntime::other_processes(int gpu) {
  const std::uint64_t taken = state_->others.at(static_cast<std::size_t>(gpu));
  if (taken == 0) return {};
  return {{0, "simulated other process", "", taken}};
}

std::uint64_t SimulatedRuntime::live_blocks() const { return state_->live_blocks; }

std::uint64_t SimulatedRuntime::live_bytes() const {
  std::uint64_t total = state_->host_used;
  for (auto used : state_->used) total += used;
  return total;
}

void SimulatedRuntime::end_other_process() {
  for (auto& taken : state_->others) taken = 0;
  state_->faults.other_process.reset();
}


}  // namespace vramguard
