// The VAE in tiles equals diffusers' enable_tiling(): tests/data/fixtures/qwenimage_vae_tiny/
// tiled.safetensors holds a seeded 80x112 picture and 40x56 latents with what the library's tiled
// encode and decode made of them at 32-pixel tiles every 24 (so edge tiles are narrower than the
// blend), fp32 on the CPU. Activations then grow with the tile, not with the picture.
#include <gtest/gtest.h>

#include "core/errors.hpp"
#include "runtime/runtime_support.hpp"

using namespace vramguard;
using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kTiled = fixture("qwenimage_vae_tiny") / "tiled.safetensors";
const std::string kModel = (fixture("qwenimage_vae_tiny") / "model").string();

at::Tensor tiling(std::int64_t tile, std::int64_t stride) {
  return at::tensor(std::vector<std::int64_t>{tile, tile, stride, stride}, at::kLong);
}

runtime::NamedTensors call(runtime::Session& session, const std::string& entry, const runtime::NamedTensors& inputs) {
  const auto& component = *session.description().find("model");
  const auto architecture = runtime::architecture_for(component);
  architecture->check(component, entry, inputs);
  runtime::NamedTensors out;
  session.step(
      "model", [&] { out = architecture->run(session, "model", entry, inputs, {}); },
      architecture->activation_bytes(component, entry, inputs, session.compute_target("model")));
  return out;
}

std::uint64_t activations(const std::string& entry, const runtime::NamedTensors& inputs) {
  auto session = runtime::Session::open(kModel, simulated("balanced"));
  const auto& component = *session->description().find("model");
  return runtime::architecture_for(component)->activation_bytes(component, entry, inputs,
                                                                session->compute_target("model"));
}

}  // namespace

TEST(VaeTiling, EncodeAndDecodeInTilesEqualDiffusersUnderEveryStrategy) {
  // Sequential offload with one slot: the encoder and its quantizing convolution are never held at once.
  for (const auto& [strategy, prefetch] : {std::pair{"balanced", "1"}, std::pair{"sequential-offload", "0"}}) {
    SCOPED_TRACE(strategy);
    auto options = simulated(strategy);
    options.strategy_options = {{"prefetch", prefetch}};
    if (std::string(strategy) == "balanced") options.strategy_options.clear();
    auto session = runtime::Session::open(kModel, options);
    const auto encoded = call(*session, "encode", {{"image", load_tensor(kTiled, "image")}, {"tiling", tiling(32, 24)}})
                             .at("encoded_mean");
    EXPECT_LT(relative_difference(encoded, load_tensor(kTiled, "encoded_mean")), 1e-5);
    const auto decoded =
        call(*session, "decode", {{"latents", load_tensor(kTiled, "latents")}, {"tiling", tiling(32, 24)}})
            .at("decoded");
    EXPECT_LT(relative_difference(decoded, load_tensor(kTiled, "decoded")), 1e-5);
    // Not tiled, the same picture is another result: the test tells the two apart.
    const auto whole = call(*session, "encode", {{"image", load_tensor(kTiled, "image")}}).at("encoded_mean");
    EXPECT_GT(relative_difference(whole, load_tensor(kTiled, "encoded_mean")), 1e-3);
  }
}

TEST(VaeTiling, APictureWithinOneTileRunsWhole) {
  auto session = runtime::Session::open(kModel, simulated("balanced"));
  const fs::path untiled = fixture("qwenimage_vae_tiny") / "expected.safetensors";
  const auto image = load_tensor(fixture("qwenimage_vae_tiny") / "inputs.safetensors", "image");  // 32x32
  const auto encoded = call(*session, "encode", {{"image", image}, {"tiling", tiling(32, 24)}}).at("encoded_mean");
  EXPECT_LT(relative_difference(encoded, load_tensor(untiled, "encoded_mean")), 1e-4);
}

TEST(VaeTiling, ActivationsGrowWithTheTileNotThePicture) {
  auto encode = [](std::int64_t side, bool tiled) {
    runtime::NamedTensors inputs{{"image", at::zeros({1, 3, 1, side, side})}};
    if (tiled) inputs["tiling"] = tiling(256, 192);
    return activations("encode", inputs);
  };
  EXPECT_LT(encode(1024, true), encode(1024, false));
  // Four times the picture: the whole picture's feature maps grow fourfold, the tiled ones do not
  // (only the tiles' small outputs grow).
  EXPECT_LT(encode(2048, true) - encode(1024, true), (encode(2048, false) - encode(1024, false)) / 4);
  // A picture within one tile needs what it needs whole, and a little more for the joined output.
  EXPECT_GE(encode(256, true), encode(256, false));
  auto decode = [](std::int64_t side, bool tiled) {
    runtime::NamedTensors inputs{{"latents", at::zeros({1, 4, 1, side, side})}};
    if (tiled) inputs["tiling"] = tiling(256, 192);
    return activations("decode", inputs);
  };
  EXPECT_LT(decode(512, true), decode(512, false));
  EXPECT_LT(decode(1024, true) - decode(512, true), (decode(1024, false) - decode(512, false)) / 4);
}

TEST(VaeTiling, RefusesTilingThatCannotWork) {
  auto session = runtime::Session::open(kModel, simulated("balanced"));
  const auto& component = *session->description().find("model");
  const auto architecture = runtime::architecture_for(component);
  const at::Tensor image = at::zeros({1, 3, 1, 64, 64});
  auto message_for = [&](const at::Tensor& t) {
    try {
      architecture->check(component, "encode", {{"image", image}, {"tiling", t}});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message_for(at::tensor(std::vector<std::int64_t>{32, 32, 24}, at::kLong)).find("holds 3 numbers, not 4"),
            std::string::npos);
  EXPECT_NE(message_for(tiling(32, 48)).find("stride larger than its tile"), std::string::npos);
  EXPECT_NE(message_for(tiling(33, 24)).find("multiple of 2"), std::string::npos);
  EXPECT_NE(message_for(tiling(0, 24)).find("positive multiple"), std::string::npos);
  EXPECT_NE(message_for(at::ones({4}, at::kFloat)).find("integers"), std::string::npos);
  EXPECT_EQ(message_for(tiling(32, 24)), "accepted");
}
