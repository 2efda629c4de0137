// The memory guard on the simulated runtime: loads that fit load and verify; out-of-memory anywhere
// falls back or ends in a clear report; nothing leaks, ever.
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "devices/simulated_runtime.hpp"
#include "guard/guard_pipeline.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"
#include "synth/checkpoint_writer.hpp"

using namespace vramguard;
using namespace vramguard::testing;

namespace {

constexpr std::uint64_t GiB = 1ULL << 30;

class Guard : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    SynthWriteOptions random;
    random.data = SynthData::random;
    random.seed = 11;
    random.dtype = DType::F32;
    random.max_shard_bytes = 3'000'000;
    write_checkpoint(synthetic_architecture("qwen2", "small", false), dir_->path() / "small", random);
    InspectOptions options;
    options.target_dtype = DType::BF16;
    model_ = new InspectedModel(inspect_model((dir_->path() / "small").string(), {}, options));
    registry_ = new PluginRegistry(PluginRegistry::discover({{BUILTIN_PLUGIN_DIR, "built-in"}}, {}));
  }
  static void TearDownTestSuite() {
    delete registry_;
    delete model_;
    delete dir_;
  }

  static GuardOptions options(const std::string& strategy = "balanced") {
    GuardOptions o;
    o.strategy = strategy;
    o.fallback = {"balanced", "auto", "sequential-offload"};
    o.cpu_memory = 4 * GiB;
    o.budget.headroom = 0;
    o.budget.reserve_all = 0;
    return o;
  }

  // A GPU of `megabytes` usable after its 0.6 GiB context.
  static std::string gpu(std::uint64_t megabytes) {
    return "cuda:" + std::to_string(megabytes * 1'000'000 + 644245094) + "@25GB/s";
  }

  static TempDir* dir_;
  static InspectedModel* model_;
  static PluginRegistry* registry_;
};
TempDir* Guard::dir_ = nullptr;
InspectedModel* Guard::model_ = nullptr;
PluginRegistry* Guard::registry_ = nullptr;

std::uint64_t model_bytes(const InspectedModel& model) { return model.graph.bytes(); }

}  // namespace

TEST_F(Guard, AModelThatFitsLoadsVerifiesItsBytesAndUnloadsToZero) {
  SimulatedRuntime runtime(gpu(200), 4 * GiB, {}, /*keep_data=*/true);
  auto o = options();
  o.verify_data = true;
  GuardPipeline pipeline(runtime, *registry_, *model_, o);
  GuardResult result = pipeline.run();
  EXPECT_TRUE(result.report.success);
  EXPECT_EQ(result.report.final_strategy, "balanced");
  EXPECT_TRUE(result.report.data_verified);
  EXPECT_EQ(result.report.verified_tensors,
            model_->graph.components[0].tensor_count() + model_->graph.components[0].tied_tensor_count());
  EXPECT_EQ(result.report.statistics.bytes_to_gpus, model_bytes(*model_));
  const auto& attempt = result.report.attempts.back();
  for (const char* stage : {"preflight", "plan", "validate", "load", "verify"}) {
    bool found = false;
    for (const auto& s : attempt.stages) found = found || s.stage == stage;
    EXPECT_TRUE(found) << stage;
  }
  // Predicted bytes (resident + window) equal the measured ones: one allocation per unit, exact accounting.
  const auto* predicted = attempt.prediction->find(DeviceId::gpu(0));
  EXPECT_EQ(predicted->resident_bytes + predicted->window_bytes, attempt.measured_bytes.at(DeviceId::gpu(0)));
  EXPECT_GT(runtime.live_bytes(), 0u);
  pipeline.unload(result);
  EXPECT_EQ(runtime.live_bytes(), 0u);
  EXPECT_EQ(runtime.live_blocks(), 0u);
  EXPECT_EQ(result.report.after_unload.at(0).ours_in_use, 0u);
}

TEST_F(Guard, TheCapHoldsForTheWholeProcessFromTheLoadOnAndIsLiftedAtUnload) {
  SimulatedRuntime runtime(gpu(400), 4 * GiB);
  auto o = options();
  o.budget.max_memory = {{DeviceId::gpu(0), 644245094 + 300'000'000ULL}};  // the context and 300 MB
  GuardPipeline pipeline(runtime, *registry_, *model_, o);
  GuardResult result = pipeline.run();
  ASSERT_TRUE(result.report.success);
  // As the driver counts it: the context and everything held, within the cap.
  const MemorySnapshot loaded = runtime.snapshot(0);
  EXPECT_EQ(loaded.process_limit, 644245094 + 300'000'000ULL);
  EXPECT_LE(loaded.process_total, loaded.process_limit);
  // A step that would take the process past its cap runs out of memory, as a real allocator limited
  // to its share does, however much the card has free.
  EXPECT_GT(loaded.free, 300'000'000ULL);
  EXPECT_THROW(runtime.begin_step(0, loaded.process_limit - loaded.process_total + 1), OutOfMemory);
  runtime.begin_step(0, loaded.process_limit - loaded.process_total);
  runtime.end_step(0);
  pipeline.unload(result);
  EXPECT_EQ(runtime.snapshot(0).process_limit, 0u);
}

TEST_F(Guard, StreamedUnitsComeFromPinnedMemoryWhereTheCheckpointCannotBeRegistered) {
  SimulatedFaults faults;
  faults.registration_refused = true;  // as without root or a memlock limit
  SimulatedRuntime runtime(gpu(20), 4 * GiB, faults);
  GuardPipeline pipeline(runtime, *registry_, *model_, options("sequential-offload"));
  GuardResult result = pipeline.run();
  EXPECT_EQ(result.report.final_strategy, "sequential-offload");
  EXPECT_EQ(result.report.statistics.bytes_to_gpus, 0u);
  EXPECT_EQ(result.report.statistics.bytes_to_host, model_bytes(*model_));
  EXPECT_EQ(result.report.statistics.stream_source, StreamSource::pinned_copy);
  EXPECT_GT(result.report.statistics.window_bytes, 0u);
  for (const auto& unit : result.model.units()) {
    EXPECT_EQ(unit.placement.mode, PlacementMode::streamed);
    if (allocated_bytes(model_->graph.components[unit.component].units[unit.unit]) == 0)
      continue;  // a tied head stores nothing
    ASSERT_NE(unit.block, nullptr);
    EXPECT_EQ(unit.block->device(), DeviceId::host());
  }
}

TEST_F(Guard, StreamedUnitsComeStraightFromTheRegisteredCheckpointWhereItCanBe) {
  // The checkpoint is fp32 and the load converts to bf16: no registration then. A bf16 copy can.
  TempDir tmp;
  SynthWriteOptions bf16;
  bf16.data = SynthData::random;
  write_checkpoint(synthetic_architecture("qwen2", "small", false), tmp / "bf16", bf16);
  const InspectedModel model = inspect_model((tmp / "bf16").string(), {}, {});
  SimulatedRuntime runtime(gpu(20), 4 * GiB);
  GuardPipeline pipeline(runtime, *registry_, model, options("sequential-offload"));
  GuardResult result = pipeline.run();
  EXPECT_EQ(result.report.statistics.stream_source, StreamSource::registered_mapping);
  EXPECT_EQ(result.report.statistics.bytes_to_host, 0u);
  EXPECT_GE(result.report.statistics.bytes_registered, model.graph.bytes());
  for (const auto& unit : result.model.units()) {
    EXPECT_EQ(unit.block, nullptr);  // nothing copied: the window is filled from the page cache
    for (const auto& tensor : unit.tensors) {
      if (tensor.bytes > 0) {
        EXPECT_NE(tensor.host, nullptr) << tensor.name;
      }
    }
  }
  pipeline.unload(result);
  EXPECT_EQ(runtime.live_bytes(), 0u);

  // A registered window fills slower than a pinned one: over a server's many passes, pinning once wins.
  GuardOptions many_passes = options("sequential-offload");
  many_passes.workload.components[model.graph.components.front().name].passes = 1'000'000;
  GuardPipeline serving(runtime, *registry_, model, many_passes);
  GuardResult served = serving.run();
  EXPECT_EQ(served.report.statistics.stream_source, StreamSource::pinned_copy);
  EXPECT_NE(served.report.attempts.back().prediction->stream_source_reason.find("over the job's passes"),
            std::string::npos)
      << served.report.attempts.back().prediction->stream_source_reason;
  serving.unload(served);

  GuardPipeline converting(runtime, *registry_, *model_, options("sequential-offload"));
  GuardResult converted = converting.run();
  EXPECT_EQ(converted.report.statistics.stream_source, StreamSource::pinned_copy);
  EXPECT_NE(converted.report.attempts.back().prediction->stream_source_reason.find("conversion"), std::string::npos);
}

TEST_F(Guard, AnOutOfMemoryFallsBackToTheNextRungAndReleasesTheFirst) {
  SimulatedFaults faults;
  faults.fail_at_allocation = 5;  // mid-load of the first attempt
  SimulatedRuntime runtime(gpu(200), 4 * GiB, faults);
  GuardPipeline pipeline(runtime, *registry_, *model_, options());
  GuardResult result = pipeline.run();
  ASSERT_EQ(result.report.attempts.size(), 2u);
  EXPECT_NE(result.report.attempts[0].outcome.find("out of memory"), std::string::npos)
      << result.report.attempts[0].outcome;
  EXPECT_TRUE(result.report.attempts[0].leaked_bytes.empty());
  EXPECT_EQ(result.report.attempts[0].stages.back().stage, "release");
  EXPECT_EQ(result.report.attempts[0].stages.back().after.at(0).ours_in_use, 0u);
  EXPECT_EQ(result.report.final_strategy, "auto");
  pipeline.unload(result);
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

TEST_F(Guard, AnotherProcessTakingMemoryMidLoadIsSurvived) {
  SimulatedFaults faults;
  // Two units into the first attempt, another program takes all but 10 MB: too little for the rest of
  // the model, enough to stream it through a window.
  faults.other_process = SimulatedFaults::OtherProcess{2, 0, 190'000'000};
  SimulatedRuntime runtime(gpu(200), 4 * GiB, faults);
  GuardPipeline pipeline(runtime, *registry_, *model_, options());
  GuardResult result = pipeline.run();
  EXPECT_TRUE(result.report.success);
  EXPECT_GE(result.report.attempts.size(), 2u);
  EXPECT_NE(result.report.attempts[0].outcome.find("out of memory on cuda:0"), std::string::npos)
      << result.report.attempts[0].outcome;
  for (const auto& a : result.report.attempts) EXPECT_TRUE(a.leaked_bytes.empty()) << a.strategy;
  pipeline.unload(result);
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

TEST_F(Guard, WhenNothingFitsTheReportSaysWhatWasTriedAndWhatToDo) {
  SimulatedFaults faults;
  faults.other_process = SimulatedFaults::OtherProcess{0, 0, 250'000'000};  // all there is, from the start
  SimulatedRuntime runtime(gpu(200), 4 * GiB, faults);
  const std::uint64_t baseline = runtime.snapshot(0).ours_in_use;
  GuardPipeline pipeline(runtime, *registry_, *model_, options(), [](int) {
    return std::vector<GpuProcess>{{4242, "trainer.py", "alice", 199'000'000, std::nullopt, "python trainer.py"}};
  });
  try {
    pipeline.run();
    FAIL() << "loaded with no memory left";
  } catch (const GuardFailure& failure) {
    const GuardReport& report = failure.report();
    EXPECT_FALSE(report.success);
    EXPECT_EQ(report.attempts.size(), 3u);
    bool names_process = false, names_strategy_need = false;
    for (const auto& advice : report.advice) {
      names_process = names_process || advice.find("4242") != std::string::npos;
      names_strategy_need = names_strategy_need || advice.find("needs") != std::string::npos;
    }
    EXPECT_TRUE(names_process);
    EXPECT_TRUE(names_strategy_need);
    EXPECT_FALSE(report.warnings.empty());
  }
  EXPECT_EQ(runtime.snapshot(0).ours_in_use, baseline);
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

TEST_F(Guard, AnInterruptedLoadReleasesEverything) {
  SimulatedRuntime runtime(gpu(200), 4 * GiB);
  std::atomic<bool> stop{false};
  auto o = options();
  o.cancel = &stop;
  int units = 0;
  o.progress = [&](std::uint64_t, std::uint64_t) {
    if (++units == 3) stop = true;
  };
  GuardPipeline pipeline(runtime, *registry_, *model_, o);
  try {
    pipeline.run();
    FAIL() << "an interrupted load returned";
  } catch (const GuardFailure& failure) {
    EXPECT_EQ(failure.exit_code(), ExitCode::interrupted);
    EXPECT_FALSE(failure.report().attempts.empty());  // the report is complete for the CLI to write
  }
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

// 1,000 loads with an out-of-memory injected at a random point (an allocation, a byte level, another
// process): each ends loaded or with the clear report, and not one byte stays allocated.
TEST_F(Guard, AThousandLoadsWithRandomOutOfMemoryNeverLeak) {
  std::mt19937_64 rng(5);
  auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  int loaded = 0, failed = 0;
  for (int i = 0; i < 1000; ++i) {
    SimulatedFaults faults;
    switch (uniform(0, 2)) {
      case 0: faults.fail_at_allocation = uniform(1, 60); break;
      case 1: faults.fail_above_bytes = uniform(1'000'000, 40'000'000); break;
      default: faults.other_process = SimulatedFaults::OtherProcess{uniform(0, 40), 0, uniform(1'000'000, 60'000'000)};
    }
    SimulatedRuntime runtime(gpu(uniform(5, 60)), uniform(0, 1) ? 4 * GiB : uniform(0, 40'000'000), faults);
    auto o = options(uniform(0, 1) ? "balanced" : "auto");
    GuardPipeline pipeline(runtime, *registry_, *model_, o);
    try {
      GuardResult result = pipeline.run();
      ++loaded;
      for (const auto& a : result.report.attempts) ASSERT_TRUE(a.leaked_bytes.empty()) << "load " << i;
      pipeline.unload(result);
    } catch (const GuardFailure& failure) {
      ++failed;
      ASSERT_FALSE(failure.report().attempts.empty());
      ASSERT_FALSE(failure.report().advice.empty());
      for (const auto& a : failure.report().attempts) ASSERT_TRUE(a.leaked_bytes.empty()) << "load " << i;
    }
    ASSERT_EQ(runtime.live_bytes(), 0u) << "load " << i << " leaked";
    ASSERT_EQ(runtime.live_blocks(), 0u) << "load " << i << " leaked";
  }
  EXPECT_GT(loaded, 100);
  EXPECT_GT(failed, 30);
}

TEST_F(Guard, TheLoadCommandReportsAndExitsByOutcome) {
  TempDir out;
  const std::string model = shell_quote((dir_->path() / "small").string());
  auto result = run_vramguard("load " + model + " --simulate " + gpu(600) +
                              " --reserve 0 --cpu-memory 4GiB --dtype bf16 --strategy balanced " +
                              "--verify-data --report " + shell_quote((out / "r.json").string()));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Loaded"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("After unload"), std::string::npos) << result.out;
  std::ifstream in(out / "r.json");
  const auto report = nlohmann::json::parse(in);
  EXPECT_TRUE(report["success"].get<bool>());
  EXPECT_TRUE(report["data_verified"].get<bool>());
  EXPECT_EQ(report["after_unload"]["cuda:0"]["ours_in_use_bytes"], 0);

  result = run_vramguard("load " + model + " --simulate " + gpu(600) +
                         " --reserve 0 --cpu-memory 4GiB --simulate-other-process 0=600MB@2");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("What to do"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("no strategy could load"), std::string::npos) << result.err;

  result = run_vramguard("load " + model + " --simulate " + gpu(600) + " --reserve 0 --cpu-memory 4GiB --hold --json");
  EXPECT_EQ(result.exit_code, 0) << result.err;  // stdin is empty: the hold ends at once
  EXPECT_NE(result.out.find("Holding the model"), std::string::npos);
}

TEST(GuardEdgeCases, EmptyTensorsLoadAndVerify) {
  TempDir dir;
  // A unit whose only tensor has no elements: nothing to allocate, still placed and verified.
  std::string header = R"({"layers.0.w":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                       R"("layers.1.w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  bytes += header + std::string(16, '\0');
  dir.write("m.safetensors", bytes);
  const InspectedModel model = inspect_model((dir / "m.safetensors").string(), {}, {});
  const PluginRegistry registry = PluginRegistry::discover({{BUILTIN_PLUGIN_DIR, "built-in"}}, {});
  SimulatedRuntime runtime("cuda:2GB", 1ULL << 30, {}, true);
  GuardOptions options;
  options.strategy = "balanced";
  options.budget.headroom = 0;
  options.budget.reserve_all = 0;
  options.verify_data = true;
  options.cpu_memory = 1ULL << 30;
  GuardPipeline pipeline(runtime, registry, model, options);
  GuardResult result = pipeline.run();
  EXPECT_EQ(result.report.verified_tensors, 2u);
  pipeline.unload(result);
  EXPECT_EQ(runtime.live_bytes(), 0u);
}

// On a real GPU (the CUDA build; skipped elsewhere): every upload path puts the checkpoint's exact bytes
// on the GPU, the page-cache paths copy part of them straight from registered pages, and a capped plan
// whose streamed units are registered for the session (and may share a page with a resident tensor)
// loads and verifies too.
TEST(GpuUpload, EveryUploadPathPutsTheFilesExactBytesOnTheGpu) {
  TempDir dir;
  const auto model = dir.path() / "m";
  SynthWriteOptions random;
  random.data = SynthData::random;
  random.seed = 5;
  write_checkpoint(synthetic_architecture("qwen2", "tiny", false), model, random);
  if (run_vramguard("plan " + shell_quote(model.string())).exit_code != 0) GTEST_SKIP() << "no CUDA GPU in this build";
  std::filesystem::remove_all(model);
  write_checkpoint(synthetic_architecture("qwen2", "0.5b", false), model, random);  // runs of tens of MB

  auto load = [&](const std::string& options) {
    const auto report_path = dir.path() / "r.json";
    const auto result =
        run_vramguard("load " + shell_quote(model.string()) + " --max-attempts 1 --verify-data --report " +
                      shell_quote(report_path.string()) + " " + options);
    EXPECT_EQ(result.exit_code, 0) << options << "\n" << result.err;
    std::ifstream in(report_path);
    return nlohmann::json::parse(in);
  };
  for (const std::string path : {"staged", "registered", "mixed"}) {
    const auto report = load("--strategy auto --upload-from " + path);
    EXPECT_TRUE(report["data_verified"].get<bool>()) << path;
    const auto direct = report["load"]["bytes_from_registered_pages"].get<std::uint64_t>();
    if (path == "staged") EXPECT_EQ(direct, 0u);
    else EXPECT_GT(direct, 100'000'000u) << path << " copied too little straight from the page cache";
  }
  // About 0.7 GB usable beside the context at 64 tokens: part resident, part streamed.
  const auto capped = load("--strategy auto --max-memory 0=1.6GB --reserve 0 --tokens 64 --upload-from mixed");
  EXPECT_TRUE(capped["data_verified"].get<bool>());
  EXPECT_GT(capped["load"]["bytes_to_gpus"].get<std::uint64_t>(), 0u)
      << "nothing resident: the cap is too small for this test";
  EXPECT_GT(capped["load"]["bytes_registered"].get<std::uint64_t>(), 0u) << "the streamed units were not registered";
}
