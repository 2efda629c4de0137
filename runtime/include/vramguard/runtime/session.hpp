#pragma once
// A model loaded through the memory guard, ready to run: the runtime API applications and adapters
// use. A UnitScope guarantees one unit's tensors on its executing device while it lives (streamed
// units are copied into their window slot, the next ones are prefetched), and hands them out as
// at::Tensors. Units are used in forward order; the window holds prefetch_depth + 1 units at a time.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vramguard/runtime/export.hpp"
#include "vramguard/runtime/options.hpp"

namespace vramguard {
class MemoryError;  // vramguard/errors.hpp
}

namespace vramguard::runtime {

// What a model is made of, from its headers: what adapters check before anything loads.
struct TensorDescription {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;           // as placed: "BF16", "F32"...
  std::string tied_to;         // shares this tensor's weights
  std::int64_t first_row = 0;  // a row slice: shape[0] rows of the stored tensor from this one
};

struct VRAMGUARD_RUNTIME_API UnitDescription {
  std::string name;
  std::string kind;      // embedding, block, head, other
  std::string slice_of;  // a row slice of this module (a vocabulary much larger than a block)
  std::vector<TensorDescription> tensors;
  const TensorDescription* find(std::string_view tensor) const;  // full name
};

// A LoRA's adapter of one Linear (--lora, runtime::Options::lora): UnitScope::linear adds
// x·downᵀ·upᵀ·scale to the Linear's output. Its matrices are tensors of the unit holding the weight.
struct AdapterDescription {
  std::string weight;    // the adapted Linear's weight: "transformer_blocks.0.attn.to_q.weight"
  std::string down, up;  // its matrices' full names: A [rank, in], B [out, rank]
  double scale = 1;      // the file's (as diffusers reads it) times the user's
  std::string file;      // the LoRA it came from
};

struct VRAMGUARD_RUNTIME_API ComponentDescription {
  std::string name;                  // "model", "text_encoder", "transformer"...
  std::vector<std::string> classes;  // config.json's architectures / _class_name
  nlohmann::json config;             // config.json (null when there is none)
  std::string config_file;
  std::vector<std::string> weight_files;  // the checkpoint files its weights are read from
  std::vector<UnitDescription> units;
  std::vector<AdapterDescription> adapters;  // LoRAs, several per Linear where several adapt it
  const UnitDescription* find(std::string_view unit) const;
  // The units a module became: itself, or its row slices in order; empty when there is no such module.
  std::vector<const UnitDescription*> module(std::string_view module) const;
};

struct VRAMGUARD_RUNTIME_API ModelDescription {
  std::string source;
  std::vector<ComponentDescription> components;
  const ComponentDescription* find(std::string_view component) const;
};

struct UnitInfo {
  std::string name;  // the module prefix: "model.layers.3"
  std::string kind;  // embedding, block, head, other
  std::uint64_t bytes = 0;
  std::string slice_of;           // a row slice of this module; empty for a whole module
  std::string mode;               // resident, streamed, cpu
  c10::Device device{c10::kCPU};  // where it executes
  std::string
      executes_on;  // the plan's device for it ("cuda:0"), also where the CPU computes in a simulated GPU's place
  std::vector<std::string> tensors;  // full names
};

// Where a call computes, as far as predicting its activations needs: the dtype, whether this build's
// fused GPU kernels (host/devices/cuda/*.cu) run its steps, and which of its weights (full names) are
// multiplied as fp8 matmuls (e4m3 weights on GPUs with fp8 tensor cores, --fp8-compute asking): their
// Linears hold their input's rows in fp8 (an MLP's GELU applied as they are quantized) and no weight in
// the compute dtype. The kernels run on a real GPU; a simulated GPU's passes compute op by op on the
// CPU, holding the temporaries the kernels spare.
struct ComputeTarget {
  c10::ScalarType dtype = c10::ScalarType::Float;
  bool fused_kernels = false;
  std::set<std::string> fp8_matmul_weights;
};

// The target of a call in `dtype` on real GPUs (`on_gpus`) or on the CPU in their place: fused kernels
// where this build has them and the call runs on a GPU.
VRAMGUARD_RUNTIME_API ComputeTarget compute_target(c10::ScalarType dtype, bool on_gpus);

class Session;
struct UnitTensors;
class PreparedLinearInput;  // vramguard/runtime/linear_input.hpp

// What a Linear's input passes through before the Linear (UnitScope::linear): the activation of an
// MLP's hidden layer, applied where the Linear reads it: by the op, or, under fp8 matmuls, as the
// input is quantized (one pass over the MLP's widest activation instead of two).
enum class LinearInput { as_is, gelu_tanh };

class VRAMGUARD_RUNTIME_API UnitScope {
 public:
  UnitScope(UnitScope&& other) noexcept;
  UnitScope& operator=(UnitScope&&) = delete;
  UnitScope(const UnitScope&) = delete;
  ~UnitScope();

  const std::string& name() const;  // the unit's ("lm_head[0:37984]" for a row slice)
  c10::Device device() const;
  // A row slice holds rows first_row() .. first_row() + rows of its module's tensors (0 when whole).
  std::int64_t first_row() const;
  // A tensor by its name relative to the unit ("self_attn.q_proj.weight") or in full. Throws
  // runtime::MissingTensor (an input error) naming the unit and the tensor when there is none.
  const at::Tensor& operator[](std::string_view name) const;
  bool has(std::string_view name) const;
  // Every tensor of the unit, by full name.
  const std::map<std::string, at::Tensor, std::less<>>& tensors() const;
  // The Linear `module` (relative to the unit or in full) applied to x: its weight, its bias where the
  // unit holds one, and each LoRA adapting it (x·Aᵀ·Bᵀ·scale, in x's dtype). Model code calls its
  // Linears through this, so that a LoRA works under every placement without a copy of the weight.
  // `input` says what x passes through first (gelu_tanh: at::gelu(x, "tanh")).
  at::Tensor linear(std::string_view module, const at::Tensor& x, LinearInput input = LinearInput::as_is) const;
  // The same of an input prepared once for several Linears (q, k and v of one attention): what it passes
  // through, and under fp8 matmuls its quantization, done once for them all (linear_input.hpp).
  at::Tensor linear(std::string_view module, PreparedLinearInput& input) const;
  // Ends the scope now: its slot may be refilled once the compute issued so far is done with it.
  void release();

 private:
  friend class Session;
  UnitScope(Session* session, std::size_t unit, const UnitTensors* tensors);
  Session* session_;
  std::size_t unit_;
  const UnitTensors* tensors_;
};

struct StepStatistics {
  std::string component;
  double seconds = 0;
  double compute_seconds = 0;
  double copy_wait_seconds = 0;
  std::uint64_t streamed_bytes = 0;
  std::uint64_t unprefetched_units = 0;  // streamed units filled on demand, their copy not overlapped
  std::map<std::string, std::uint64_t>
      peak_bytes;  // per GPU ("cuda:0"): ours at most during the step, activations included
  // Per GPU: the most the allocator held (in use and cached), and the most the whole process held as the
  // driver counts it (NVML, sampled at 50 Hz; absent where NVML cannot tell), during the step.
  std::map<std::string, std::uint64_t> reserved_peak_bytes, process_peak_bytes;
  // Per GPU: how often the caching allocator emptied its cache and retried during the step (each waits
  // for every stream, so a step with retries lost its copy/compute overlap there).
  std::map<std::string, std::uint64_t> allocator_retries;
  // The activations the step was accounted for on each GPU it ran on: its own figure, which may exceed the
  // plan's headroom within the room the plan leaves (a VAE call on the whole picture rather than in tiles).
  std::uint64_t activation_bytes = 0;
};

class VRAMGUARD_RUNTIME_API Session {
 public:
  // Inspects the model, plans it, loads it through the guard (fallback ladder included) and readies
  // the executor. Throws vramguard's errors: InputError and UsageError (bad input), OutOfMemory and
  // JobError (nothing fits), each with the host's message and hint.
  // `progress`, where given, hears the load's bytes done of the total after each unit, on the
  // calling thread.
  static std::unique_ptr<Session> open(
      const std::string& model, const Options& options = {},
      std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)> progress = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const ModelDescription& description() const;
  std::vector<std::string> components() const;
  // config.json of a component; null when it has none.
  const nlohmann::json* config(std::string_view component) const;
  std::vector<UnitInfo> units(std::string_view component) const;
  std::optional<std::size_t> find_unit(std::string_view component, std::string_view unit) const;
  // The units a module is run as, in order: the one unit of that name, or its row slices (vramguard
  // splits a vocabulary much larger than a block into slices of about a block). Throws InputError
  // naming the module when there is none.
  std::vector<std::size_t> module_units(std::string_view component, std::string_view module) const;
  // The dtype a component's floating weights have on their device.
  c10::ScalarType dtype(std::string_view component) const;
  // Where a component's calls compute, for predicting their activations (architecture.hpp): its dtype,
  // and fused kernels where one of its units executes on a real GPU.
  ComputeTarget compute_target(std::string_view component) const;

  UnitScope unit(std::string_view component, std::size_t index);
  UnitScope unit(std::string_view component, std::string_view name);

  // Runs `body` as one step of `component` on `device`: accounts its activations, times it, and when a
  // step runs out of device memory, releases the model, loads it with the guard's next strategy and
  // runs `body` again (the report records both). `activation_bytes` 0: the cost model's estimate.
  void step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes = 0);
  // The same, with a way out before the guard's: when the step runs out of memory, `lighter` is asked
  // first. It switches `body` to a way that needs less memory (a VAE in tiles) and returns that way's
  // activation bytes, and the step runs again in place; nullopt leaves the out-of-memory to the guard.
  using Lighter = std::function<std::optional<std::uint64_t>(const MemoryError&)>;
  void step(std::string_view component, const std::function<void()>& body, std::uint64_t activation_bytes,
            const Lighter& lighter);
  const std::vector<StepStatistics>& steps() const;
  // Bytes the loaded plan leaves for activations on the GPUs `component` runs on (the least of them):
  // the budget's limit there less the resident weights and the streaming window. The largest value
  // where it runs on no GPU.
  std::uint64_t activation_room_bytes(std::string_view component) const;

  std::string strategy() const;
  // How many times the model has been loaded: 1 after open, one more for each fallback a step caused.
  // Tensors handed out before a fallback point at memory that is gone: take them again.
  std::uint64_t generation() const;
  std::string report_json() const;  // the guard's report, steps included
  void unload();                    // frees every byte now; the session is unusable after

  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  Impl& impl() { return *impl_; }

 private:
  friend class UnitScope;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vramguard::runtime
