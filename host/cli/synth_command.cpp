// `vramguard synth`: writes a real, valid checkpoint with an architecture's exact tensor names and shapes.
#include <chrono>
#include <ostream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "core/errors.hpp"
#include "core/text.hpp"
#include "synth/checkpoint_writer.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

Command synth_command() {
  CommandSpec spec{
      "synth", "write a synthetic checkpoint with an architecture's exact tensor names and shapes",
      "vramguard synth --arch ARCH [--preset P] --out DIR [--data zeros|random] [--seed N] [--dtype D]",
      "Architectures and presets:\n"
      "  qwen2            tiny, tiny-tied, small, 0.5b (Qwen2.5-0.5B), 2b (the streaming benchmark's), 7b "
      "(Qwen2.5-7B),\n"
      "                   72b (Qwen2.5-72B)\n"
      "  qwen-image-edit  full (the real pipeline's shapes: 60-block MMDiT, Qwen2.5-VL-7B text encoder, VAE), tiny\n"
      "  qwen-image-edit-2511  full, tiny: Edit-2511 (QwenImageEditPlusPipeline, several pictures; its transformer "
      "with zero_cond_t)\n"
      "With --data zeros (the default) the files are sparse: a 41 GB transformer takes no disk space "
      "(its 1-D tensors, norms and biases, hold seeded values, so that an edit of it computes finite numbers).",
      [](CommandOptions& own) {
        // clang-format off
        own.options.add_options()
            ("arch", po::value<std::string>()->value_name("ARCH"), "qwen2, qwen-image-edit or qwen-image-edit-2511")
            ("preset", po::value<std::string>()->value_name("P")->default_value("tiny"), "size preset")
            ("out", po::value<std::string>()->value_name("DIR"), "output folder (new or empty)")
            ("data", po::value<std::string>()->value_name("zeros|random")->default_value("zeros"),
                "zeros: sparse files; random: seeded values")
            ("seed", po::value<std::string>()->value_name("N")->default_value("0"),
                "seed for --data random (0 or more)")
            ("dtype", po::value<std::string>()->value_name("D")->default_value("bf16"), "bf16, fp16, fp32 or fp64")
            ("shard-size", po::value<std::string>()->value_name("SIZE")->default_value("5GB"),
                "largest shard file, as in save_pretrained(max_shard_size=...)")
            ("legacy-names", po::bool_switch(),
                "name the text encoder's tensors as checkpoints saved before transformers 5 do");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const auto arch = invocation.text("arch");
            const auto out = invocation.text("out");
            if (!arch)
              throw UsageError("synth needs --arch", "architectures: " + text::join(synthetic_architectures(), ", "));
            if (!out) throw UsageError("synth needs --out DIR");
            SynthWriteOptions options;
            const std::string dtype = *invocation.text("dtype");
            const auto parsed = dtype_from_user_name(dtype);
            if (!parsed) throw UsageError("unknown --dtype '" + dtype + "'", "use bf16, fp16, fp32 or fp64");
            options.dtype = *parsed;
            const std::string data = *invocation.text("data");
            if (data == "zeros") options.data = SynthData::zeros;
            else if (data == "random") options.data = SynthData::random;
            else throw UsageError("unknown --data '" + data + "'", "use zeros or random");
            options.seed = invocation.number("seed", 0, UINT64_MAX).value_or(0);
            try {
              options.max_shard_bytes = parse_byte_size(*invocation.text("shard-size"));
            } catch (const InvalidByteSize& e) {
              throw UsageError(std::string("--shard-size: ") + e.what());
            }
            if (options.max_shard_bytes == 0) throw UsageError("--shard-size must be more than 0");

            const SynthModel model =
                synthetic_architecture(*arch, *invocation.text("preset"), invocation.flag("legacy-names"));
            const auto started = std::chrono::steady_clock::now();
            const SynthWriteResult result = write_checkpoint(model, *out, options);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            std::uint64_t parameters = 0;
            for (const auto& c : model.components) parameters += c.parameters();
            if (invocation.flag("json")) {
              io.out << nlohmann::json{{"out", *out},           {"architecture", *arch},     {"preset", model.preset},
                                       {"files", result.files}, {"tensors", result.tensors}, {"parameters", parameters},
                                       {"bytes", result.bytes}, {"seconds", seconds}}
                            .dump(2)
                     << "\n";
            } else {
              io.out << "Wrote " << *out << ": " << *arch << " (" << model.preset << "), "
                     << text::thousands(result.tensors) << " tensors in " << result.files << " files, "
                     << text::thousands(parameters) << " parameters, " << format_bytes(result.bytes) << " of "
                     << dtype_name(options.dtype)
                     << (options.data == SynthData::zeros ? " zeros (sparse)" : " seeded random data") << "\n";
            }
            return 0;
          }};
}

}  // namespace vramguard
