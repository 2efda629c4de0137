// Scaled-fp8 checkpoints' scales are read at inspection, before anything loads: a zero, negative or
// non-finite scale, or a scale with no fp8 weight beside it, is refused naming the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "core/errors.hpp"
#include "model/model_inspector.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

namespace vramguard {
namespace {

using testing::TempDir;

// One Linear: `proj.weight` [2, 2] in `weight_dtype` (4 bytes of fp8, or 16 of F32) and `proj.scale_weight`
// holding `scale`.
std::filesystem::path checkpoint(const TempDir& tmp, float scale, const std::string& weight_dtype = "F8_E4M3") {
  const std::uint64_t weight_bytes = weight_dtype == "F8_E4M3" ? 4 : 16;
  const std::string header = "{\"proj.weight\":{\"dtype\":\"" + weight_dtype +
                             "\",\"shape\":[2,2],\"data_offsets\":[0," + std::to_string(weight_bytes) +
                             "]},\"proj.scale_weight\":{\"dtype\":\"F32\",\"shape\":[]," + "\"data_offsets\":[" +
                             std::to_string(weight_bytes) + "," + std::to_string(weight_bytes + 4) + "]}}";
  std::string bytes = testing::safetensors_bytes(header, weight_bytes);
  bytes.append(reinterpret_cast<const char*>(&scale), 4);
  return testing::write_file(tmp.path() / "model.safetensors", bytes);
}

std::string refusal(const std::filesystem::path& file) {
  try {
    inspect_model(file.string(), {}, {});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ScaledFp8, APositiveScaleBesideAnFp8WeightIsTaken) {
  TempDir tmp;
  EXPECT_EQ(refusal(checkpoint(tmp, 0.02f)), "");
}

TEST(ScaledFp8, ScalesThatAreNotPositiveFiniteNumbersAreRefusedNamingTheTensor) {
  for (const float scale :
       {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(scale);
    TempDir tmp;
    const std::string message = refusal(checkpoint(tmp, scale));
    EXPECT_NE(message.find("proj.scale_weight"), std::string::npos) << message;
    EXPECT_NE(message.find("positive finite"), std::string::npos) << message;
  }
}

TEST(ScaledFp8, AScaleForAWeightNotStoredInFp8IsRefused) {
  TempDir tmp;
  const std::string message = refusal(checkpoint(tmp, 0.5f, "F32"));
  EXPECT_NE(message.find("no proj.weight stored in fp8"), std::string::npos) << message;
}

}  // namespace vramguard
