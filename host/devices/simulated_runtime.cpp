#include "devices/simulated_runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/errors.hpp"
#include "core/process_info.hpp"
#include "devices/nvml_processes.hpp"
#include "core/tensor_read.hpp"
#include "core/text.hpp"
#include "devices/wall_clock.hpp"
#include "vramguard/byte_size.hpp"
#include "vramguard/cost_model.hpp"

namespace vramguard {
namespace {

constexpr const char* kSpecForms =
    "a preset (rtx4080, rtx4090, a100-80gb, h100-80gb, h200), or GPUs separated by commas, each "
    "cuda:SIZE[@BANDWIDTH/s] or a preset name, e.g. \"cuda:16GiB@25GB/s,cuda:16GiB@25GB/s\" or \"rtx4090,rtx4090\"";

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : gpu_presets()) names.push_back(p.name);
  return names;
}

}  // namespace

// Capacities as the driver reports them; bandwidths are pinned host→device copies over the card's
// link; FLOP/s are dense bf16 tensor throughput and memory bandwidth the vendor's specifications
// (docs/hardware.md).
const std::vector<GpuPreset>& gpu_presets() {
  static const std::vector<GpuPreset> presets = {
      {"rtx4080", "NVIDIA GeForce RTX 4080 16 GB (PCIe 4.0 x16)", 16ULL << 30, 25e9, 97.5e12, 716.8e9, "8.9", 4, 16,
       false},
      {"rtx4090", "NVIDIA GeForce RTX 4090 24 GB (PCIe 4.0 x16)", 24ULL << 30, 25e9, 165.2e12, 1008e9, "8.9", 4, 16,
       false},
      {"a100-80gb", "NVIDIA A100 80 GB (PCIe 4.0 x16)", 80ULL << 30, 25e9, 312e12, 1935e9, "8.0", 4, 16, true},
      {"h100-80gb", "NVIDIA H100 80 GB HBM3 (PCIe 5.0 x16)", 81559ULL << 20, 53.8e9, 989e12, 3.35e12, "9.0", 5, 16,
       true},
      {"h200", "NVIDIA H200 141 GB HBM3e (PCIe 5.0 x16)", 150109880320ULL, 55.3e9, 989e12, 4.8e12, "9.0", 5, 16, true},
  };
  return presets;
}

// Accounting shared with the blocks, which may outlive the runtime object that made them.
struct SimulatedRuntime::State {
  std::vector<DeviceInfo> gpus;
  std::vector<std::uint64_t> used;         // ours, per GPU
  std::vector<std::uint64_t> activations;  // ours, during a step
  std::vector<std::uint64_t> others;       // the simulated mid-load process, per GPU (see others_on)
  std::vector<std::uint64_t> peaks;        // ours at most since reset_peak, per GPU
  std::vector<std::uint64_t> limits;       // limit_process per GPU, the context included (0: none)
  std::uint64_t host_capacity = 0;
  std::uint64_t host_used = 0;
  std::uint64_t allocations = 0;
  std::uint64_t steps = 0;
  std::uint64_t live_blocks = 0;
  bool keep_data = false;
  SimulatedFaults faults;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::vector<NvmlFacts> facts;  // declared, per GPU
};

namespace {

class SimulatedBlock final : public MemoryBlock {
 public:
  SimulatedBlock(std::shared_ptr<SimulatedRuntime::State> state, int gpu, std::uint64_t bytes)
      : state_(std::move(state)), gpu_(gpu), bytes_(bytes) {
    // calloc hands out untouched zero pages: a block costs host memory only where it is written.
    if (state_->keep_data && bytes > 0) {
      data_ = std::calloc(1, bytes);
      if (data_ == nullptr) throw OutOfMemory(DeviceId::host(), bytes, 0, "host memory backing a simulated block");
    }
    ++state_->live_blocks;
  }
  ~SimulatedBlock() override {
    if (gpu_ < 0) state_->host_used -= bytes_;
    else state_->used[static_cast<std::size_t>(gpu_)] -= bytes_;
    std::free(data_);
    --state_->live_blocks;
  }
  std::uint64_t size() const override { return bytes_; }
  DeviceId device() const override { return gpu_ < 0 ? DeviceId::host() : DeviceId::gpu(gpu_); }
  void* data() const override { return data_; }

 private:
  std::shared_ptr<SimulatedRuntime::State> state_;
  int gpu_;
  std::uint64_t bytes_;
  void* data_ = nullptr;
};

void count_allocation(SimulatedRuntime::State& state, DeviceId device, std::uint64_t bytes) {
  ++state.allocations;
  if (state.faults.other_process && state.allocations > state.faults.other_process->after_allocations) {
    const auto& other = *state.faults.other_process;
    auto& taken = state.others.at(static_cast<std::size_t>(other.gpu));
    if (taken == 0) {
      const auto g = static_cast<std::size_t>(other.gpu);
      const std::uint64_t room = state.gpus[g].free_bytes - state.used[g];
      taken = std::min(other.bytes, room);
    }
  }
  if (state.faults.fail_at_allocation && state.allocations == *state.faults.fail_at_allocation)
    throw OutOfMemory(device, bytes, 0, "injected at allocation " + std::to_string(state.allocations));
}

// What declared programs hold on GPU g now: the ones still alive, and the usage timeline's current step.
std::uint64_t declared_on(const SimulatedRuntime::State& s, std::size_t g) {
  std::uint64_t bytes = 0;
  for (const auto& [gpu, process] : s.faults.processes_at_start)
    if (static_cast<std::size_t>(gpu) == g && (process.pid == 0 || process_alive(static_cast<pid_t>(process.pid))))
      bytes += process.bytes;
  const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count();
  std::optional<SimulatedFaults::UsageChange> current;
  for (const auto& change : s.faults.usage) {
    if (static_cast<std::size_t>(change.gpu) != g) continue;
    if (change.once_exists) {
      std::error_code ec;
      if (std::filesystem::exists(*change.once_exists, ec)) current = change;
      continue;
    }
    if (change.seconds <= now && (!current || (!current->once_exists && change.seconds >= current->seconds)))
      current = change;
  }
  if (current) bytes += current->bytes;
  return bytes;
}

// Everything other programs hold on GPU g, at most what the card has past the context.
std::uint64_t others_on(const SimulatedRuntime::State& s, std::size_t g) {
  return std::min(s.gpus[g].free_bytes, s.others[g] + declared_on(s, g));
}

std::uint64_t free_on(const SimulatedRuntime::State& s, std::size_t g) {
  const std::uint64_t taken = s.used[g] + s.activations[g] + others_on(s, g);
  return s.gpus[g].free_bytes > taken ? s.gpus[g].free_bytes - taken : 0;
}

// A real GPU's allocator fails past limit_process (the context, our blocks and a step's activations
// together); so does the simulated one.
void check_process_limit(const SimulatedRuntime::State& s, std::size_t g, std::uint64_t bytes) {
  const std::uint64_t limit = s.limits[g];
  const std::uint64_t held = s.gpus[g].context_bytes + s.used[g] + s.activations[g];
  if (limit > 0 && held + bytes > limit)
    throw OutOfMemory(DeviceId::gpu(static_cast<int>(g)), bytes, limit > held ? limit - held : 0,
                      "the process limit of " + format_bytes(limit) + " (its cap, the context included)");
}

unsigned char* bytes_of(MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes) {
  if (offset + bytes > block.size()) throw std::logic_error("a copy past the end of a simulated block");
  auto* data = static_cast<unsigned char*>(block.data());
  return data == nullptr ? nullptr : data + offset;
}

// Copies happen at once, on the calling thread: the CPU computes in the GPUs' place, so there is no
// other engine to overlap with, and no ordering to keep.
class SimulatedLane final : public StreamLane {
 public:
  void fill(int, MemoryBlock& block, std::vector<StreamPiece> pieces) override {
    for (const auto& piece : pieces) {
      const std::uint64_t bytes = piece.host ? piece.bytes : piece.file.placed_bytes();
      unsigned char* out = bytes_of(block, piece.slot_offset, bytes);
      if (out == nullptr) continue;                            // an accounting-only block
      if (piece.file.file >= 0) read_tensor(piece.file, out);  // never through a mapping: see StreamPiece
      else std::memcpy(out, piece.host, bytes);                // our own host block
    }
  }
  void acquire(int) override {}
  void release(int) override {}
  void synchronize() override {}
  double wait_seconds() const override { return 0; }
};

class SimulatedRegistration final : public HostRegistration {};

void note_peak(SimulatedRuntime::State& s, std::size_t g) {
  s.peaks[g] = std::max(s.peaks[g], s.used[g] + s.activations[g]);
}

}  // namespace

SimulatedRuntime::SimulatedRuntime(const std::string& spec, std::uint64_t host_bytes, SimulatedFaults faults,
                                   bool keep_data)
    : state_(std::make_shared<State>()) {
  state_->keep_data = keep_data;
  state_->host_capacity = host_bytes;
  auto& gpus = state_->gpus;
  if (text::trim(spec).empty()) throw UsageError("--simulate is empty", std::string("accepted: ") + kSpecForms);
  for (const auto& raw : text::split(spec, ',')) {
    const std::string entry(text::trim(raw));
    if (entry.empty())
      throw UsageError("--simulate '" + spec + "' has an empty entry", std::string("accepted: ") + kSpecForms);
    DeviceInfo gpu;
    gpu.simulated = true;
    const GpuPreset* preset = nullptr;
    for (const auto& p : gpu_presets())
      if (p.name == entry) preset = &p;
    NvmlFacts facts;
    facts.driver_version = facts.cuda_driver_version = "simulated";
    facts.pcie_generation = facts.max_pcie_generation = preset ? preset->pcie_generation : 4u;
    facts.pcie_width = facts.max_pcie_width = preset ? preset->pcie_width : 16u;
    facts.ecc_enabled = preset && preset->ecc;
    facts.mig_enabled = false;
    if (preset) {
      facts.name = preset->description;
      facts.compute_capability = preset->compute_capability;
      gpu.description = "simulated " + preset->description;
      gpu.total_bytes = preset->total_bytes;
      gpu.host_to_device_bytes_per_s = preset->host_to_device_bytes_per_s;
      gpu.compute_flops_per_s = preset->compute_flops_per_s;
      gpu.memory_bytes_per_s = preset->memory_bytes_per_s;
      const auto dot = preset->compute_capability.find('.');
      gpu.fp8_compute_flops_per_s =
          fp8_flops_per_s(std::stoi(preset->compute_capability.substr(0, dot)),
                          std::stoi(preset->compute_capability.substr(dot + 1)), preset->compute_flops_per_s);
    } else if (text::starts_with(entry, "cuda:")) {
      const std::string body = entry.substr(5);
      const auto at = body.find('@');
      try {
        gpu.total_bytes = parse_byte_size(body.substr(0, at));
        if (at != std::string::npos) {
          const std::string rate = body.substr(at + 1);
          if (!text::ends_with(rate, "/s"))
            throw UsageError("bandwidth '" + rate + "' of GPU '" + entry +
                             "' in --simulate must end in /s, e.g. 25GB/s");
          gpu.host_to_device_bytes_per_s = static_cast<double>(parse_byte_size(rate.substr(0, rate.size() - 2)));
          if (gpu.host_to_device_bytes_per_s <= 0)
            throw UsageError("bandwidth '" + rate + "' of GPU '" + entry + "' in --simulate must be more than 0");
        } else {
          gpu.host_to_device_bytes_per_s = default_cost_constants().default_host_to_device_bytes_per_s;
        }
      } catch (const InvalidByteSize& e) {
        throw UsageError("cannot read GPU '" + entry + "' in --simulate: " + e.what(),
                         std::string("accepted: ") + kSpecForms);
      }
      if (gpu.total_bytes == 0) throw UsageError("GPU '" + entry + "' in --simulate has no memory");
      gpu.compute_flops_per_s = default_cost_constants().default_gpu_flops_per_s;
      gpu.memory_bytes_per_s = default_cost_constants().default_memory_bytes_per_s;
      gpu.description = "simulated GPU, " + format_bytes(gpu.total_bytes);
    } else {
      throw UsageError("unknown GPU '" + entry + "' in --simulate" + text::did_you_mean(entry, preset_names()),
                       std::string("accepted: ") + kSpecForms);
    }
    if (facts.name.empty()) facts.name = gpu.description;
    state_->facts.push_back(facts);
    gpu.id = DeviceId::gpu(static_cast<int>(gpus.size()));
    gpu.context_bytes = std::min(gpu.total_bytes, default_cost_constants().assumed_cuda_context_bytes);
    gpu.context_measured = false;
    gpu.free_bytes = gpu.total_bytes - gpu.context_bytes;
    gpus.push_back(gpu);
  }
  state_->used.assign(gpus.size(), 0);
  state_->activations.assign(gpus.size(), 0);
  state_->others.assign(gpus.size(), 0);
  state_->peaks.assign(gpus.size(), 0);
  state_->limits.assign(gpus.size(), 0);
  if (faults.other_process && static_cast<std::size_t>(faults.other_process->gpu) >= gpus.size())
    throw UsageError("the simulated other process uses cuda:" + std::to_string(faults.other_process->gpu) +
                     ", which is not declared");
  for (const auto& [gpu, process] : faults.processes_at_start)
    if (gpu < 0 || static_cast<std::size_t>(gpu) >= gpus.size())
      throw UsageError("a simulated process uses cuda:" + std::to_string(gpu) + ", which is not declared");
  for (const auto& change : faults.usage)
    if (change.gpu < 0 || static_cast<std::size_t>(change.gpu) >= gpus.size())
      throw UsageError("--simulate-usage names cuda:" + std::to_string(change.gpu) + ", which is not declared");
  // A link below what the card is made for carries proportionally less (doctor then says why).
  for (const auto& link : faults.links) {
    if (link.gpu < 0 || static_cast<std::size_t>(link.gpu) >= gpus.size())
      throw UsageError("--simulate-pcie names cuda:" + std::to_string(link.gpu) + ", which is not declared");
    NvmlFacts& f = state_->facts[static_cast<std::size_t>(link.gpu)];
    const double full = static_cast<double>(*f.max_pcie_width) * std::pow(2.0, *f.max_pcie_generation);
    const double now = static_cast<double>(link.width) * std::pow(2.0, link.generation);
    f.pcie_generation = link.generation;
    f.pcie_width = link.width;
    gpus[static_cast<std::size_t>(link.gpu)].host_to_device_bytes_per_s *= std::min(1.0, now / full);
  }
  for (int gpu : faults.mig) {
    if (gpu < 0 || static_cast<std::size_t>(gpu) >= gpus.size())
      throw UsageError("--simulate-mig names cuda:" + std::to_string(gpu) + ", which is not declared");
    state_->facts[static_cast<std::size_t>(gpu)].mig_enabled = true;
  }
  state_->faults = std::move(faults);
}

SimulatedRuntime::~SimulatedRuntime() = default;

std::vector<DeviceInfo> SimulatedRuntime::probe_gpus() {
  std::vector<DeviceInfo> gpus = state_->gpus;
  for (std::size_t g = 0; g < gpus.size(); ++g) {
    const std::uint64_t taken = state_->used[g] + others_on(*state_, g);
    gpus[g].free_bytes = gpus[g].free_bytes > taken ? gpus[g].free_bytes - taken : 0;
  }
  return gpus;
}

bool SimulatedRuntime::can_register_host_memory() { return !state_->faults.registration_refused; }

std::unique_ptr<MemoryBlock> SimulatedRuntime::allocate_device(int gpu, std::uint64_t bytes) {
  State& s = *state_;
  const auto g = static_cast<std::size_t>(gpu);
  if (gpu < 0 || g >= s.gpus.size()) throw JobError("cuda:" + std::to_string(gpu) + " is not a simulated device");
  const DeviceId device = DeviceId::gpu(gpu);
  count_allocation(s, device, bytes);
  const std::uint64_t free = free_on(s, g);
  if (bytes > free) throw OutOfMemory(device, bytes, free);
  if (s.faults.fail_above_bytes && s.used[g] + bytes > *s.faults.fail_above_bytes)
    throw OutOfMemory(device, bytes, free, "injected above " + std::to_string(*s.faults.fail_above_bytes) + " bytes");
  check_process_limit(s, g, bytes);
  auto block = std::make_unique<SimulatedBlock>(state_, gpu, bytes);
  s.used[g] += bytes;
  note_peak(s, g);
  return block;
}

std::unique_ptr<MemoryBlock> SimulatedRuntime::allocate_pinned(std::uint64_t bytes) {
  State& s = *state_;
  count_allocation(s, DeviceId::host(), bytes);
  const std::uint64_t free = s.host_capacity > s.host_used ? s.host_capacity - s.host_used : 0;
  if (bytes > free) throw OutOfMemory(DeviceId::host(), bytes, free, "pinned host memory");
  auto block = std::make_unique<SimulatedBlock>(state_, -1, bytes);
  s.host_used += bytes;
  return block;
}

void SimulatedRuntime::upload(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) {
  stage(destination, offset, source);
}

void SimulatedRuntime::stage(MemoryBlock& destination, std::uint64_t offset, const UploadSource& source) {
  if (unsigned char* out = bytes_of(destination, offset, source.placed_bytes())) read_tensor(source, out);
}

void SimulatedRuntime::read_back(const MemoryBlock& block, std::uint64_t offset, std::uint64_t bytes,
                                 unsigned char* out) {
  const auto* data = static_cast<const unsigned char*>(block.data());
  if (data == nullptr && bytes > 0)
    throw JobError(
        "this simulated block on " + block.device().str() + " keeps no data",
        "reading bytes back from simulated devices needs a runtime made with keep_data (--verify-data, run)");
  if (offset + bytes > block.size()) throw std::logic_error("a read past the end of a simulated block");
  std::memcpy(out, data + offset, bytes);
}

std::unique_ptr<HostRegistration> SimulatedRuntime::register_host(const void*, std::uint64_t) {
  if (state_->faults.registration_refused)
    throw RegistrationRefused("simulated refusal (as without root or a memlock limit)");
  return std::make_unique<SimulatedRegistration>();
}

std::unique_ptr<ComputeClock> SimulatedRuntime::open_clock(int) { return std::make_unique<WallClock>(); }

void SimulatedRuntime::reset_peak(int gpu) {
  const auto g = static_cast<std::size_t>(gpu);
  state_->peaks.at(g) = state_->used[g] + state_->activations[g];
}

std::unique_ptr<StreamLane> SimulatedRuntime::open_lane(int gpu, int) {
  if (gpu < 0 || static_cast<std::size_t>(gpu) >= state_->gpus.size())
    throw JobError("cuda:" + std::to_string(gpu) + " is not a simulated device");
  return std::make_unique<SimulatedLane>();
}

MemorySnapshot SimulatedRuntime::snapshot(int gpu) {
  const auto g = static_cast<std::size_t>(gpu);
  const DeviceInfo& info = state_->gpus.at(g);
  MemorySnapshot snap;
  snap.device = info.id;
  snap.total = info.total_bytes;
  snap.free = free_on(*state_, g);
  snap.ours_in_use = state_->used[g] + state_->activations[g];
  snap.peak_in_use = std::max(state_->peaks[g], snap.ours_in_use);
  snap.others = others_on(*state_, g);
  snap.process_total = info.context_bytes + snap.ours_in_use;
  snap.process_peak = info.context_bytes + snap.peak_in_use;
  snap.reserved_peak = snap.peak_in_use;  // no cache: what is held is what is in use
  snap.process_limit = state_->limits[g];
  return snap;
}

std::vector<GpuProcess> SimulatedRuntime::other_processes(int gpu) {
  const auto g = static_cast<std::size_t>(gpu);
  std::vector<GpuProcess> processes;
  std::uint64_t listed = 0;
  for (const auto& [declared_gpu, process] : state_->faults.processes_at_start) {
    if (declared_gpu != gpu) continue;
    if (process.pid == 0) {
      processes.push_back(process);
      listed += process.bytes;
    } else if (process_alive(static_cast<pid_t>(process.pid))) {
      processes.push_back(describe_process(process.pid, process.bytes));  // the real process's name, user, command
      listed += process.bytes;
    }
  }
  const std::uint64_t taken = others_on(*state_, g);
  if (taken > listed) processes.push_back({0, "simulated other process", "", taken - listed, std::nullopt, ""});
  return processes;
}

std::optional<NvmlFacts> SimulatedRuntime::gpu_facts(int gpu) {
  return state_->facts.at(static_cast<std::size_t>(gpu));
}

bool SimulatedRuntime::blocks_on_host() const { return state_->keep_data; }

void SimulatedRuntime::begin_step(int gpu, std::uint64_t activation_bytes) {
  State& s = *state_;
  const auto g = static_cast<std::size_t>(gpu);
  ++s.steps;
  if (s.faults.fail_at_step && s.steps == *s.faults.fail_at_step)
    throw OutOfMemory(DeviceId::gpu(gpu), activation_bytes, free_on(s, g),
                      "injected at step " + std::to_string(s.steps));
  const std::uint64_t free = free_on(s, g);
  if (activation_bytes > free) throw OutOfMemory(DeviceId::gpu(gpu), activation_bytes, free, "activations of a step");
  check_process_limit(s, g, activation_bytes);
  s.activations[g] += activation_bytes;
  note_peak(s, g);
}

void SimulatedRuntime::limit_process(int gpu, std::uint64_t bytes) {
  state_->limits.at(static_cast<std::size_t>(gpu)) = bytes;
}

void SimulatedRuntime::end_step(int gpu) { state_->activations.at(static_cast<std::size_t>(gpu)) = 0; }

std::uint64_t SimulatedRuntime::allocations() const { return state_->allocations; }
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

void SimulatedRuntime::set_other_process(int gpu, std::uint64_t bytes) {
  const auto g = static_cast<std::size_t>(gpu);
  if (g >= state_->gpus.size()) throw JobError("cuda:" + std::to_string(gpu) + " is not a simulated device");
  state_->others[g] = std::min(bytes, state_->gpus[g].free_bytes);
}

}  // namespace vramguard
