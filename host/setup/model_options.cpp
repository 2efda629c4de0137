#include "setup/model_options.hpp"

#include "core/errors.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

void declare_model_options(CommandOptions& own) {
  own.options.add_options()
      ("model", po::value<std::string>()->value_name("MODEL"), "model folder, .safetensors file, index, or org/name")
      ("dtype", po::value<std::string>()->value_name("D"),
       "load floating tensors as bf16, fp16, fp32 or fp64 (also bfloat16, float16, half, float32, float64); "
       "integer and fp8/fp6/fp4 tensors keep their own dtype")
      ("unit-rules", po::value<std::string>()->value_name("RULES"),
       "refine how tensors group into units: 'embedding:PREFIX,block:PREFIX.,head:PREFIX' in forward order "
       "(a block prefix ending in '.' is an indexed stack)")
      ("slice-vocabulary", po::value<std::string>()->value_name("SIZE"),
       "split embedding and head units larger than SIZE into row slices of about SIZE, so that a streamed "
       "vocabulary does not size every window slot (default: those over twice the largest block, into "
       "block-sized slices; 0: never)");
  own.positional.add("model", 1);
}

InspectedModel inspect_from_options(const Invocation& invocation) {
  const auto model = invocation.text("model");
  if (!model) throw UsageError("no MODEL given", "usage: vramguard " + invocation.command + " MODEL [options]");
  InspectOptions options;
  if (const auto dtype = invocation.text("dtype")) {
    options.target_dtype = dtype_from_user_name(*dtype);
    if (!options.target_dtype) throw UsageError("unknown --dtype '" + *dtype + "'", "use bf16, fp16, fp32 or fp64");
    if (!dtype_is_convertible(*options.target_dtype))
      throw UsageError("--dtype " + *dtype + " is not a dtype vramguard converts to",
                       "use bf16, fp16, fp32 or fp64; a checkpoint stored in fp8 loads in fp8 without --dtype");
  }
  options.unit_rules = invocation.text("unit-rules");
  if (const auto size = invocation.text("slice-vocabulary")) {
    try {
      options.vocabulary_slice_bytes = parse_byte_size(*size);
    } catch (const InvalidByteSize& e) {
      throw UsageError(std::string("--slice-vocabulary: ") + e.what(), "e.g. --slice-vocabulary 256MB, or 0 to keep vocabularies whole");
    }
  }
  return inspect_model(*model, invocation.environment, options);
}

}  // namespace vramguard
