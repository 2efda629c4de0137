// doctor and fix as a user runs them, on simulated GPUs with real processes holding their memory:
// every finding can be produced and is tested; fix stops only the user's own processes, with consent,
// never vramguard's ancestors, then loads the model and says what worked.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/process_info.hpp"
#include "diagnose/process_control.hpp"
#include "support/child_process.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kModel = std::string(TEST_DATA_DIR) + "/fixtures/qwen2_small/model";
// A 1 GB card keeps ~120 MB usable past the assumed context and a step's headroom: the 0.5 MB model
// fits, unless another program holds 300 MB of it.
const std::string kCard = " --simulate cuda:1GB --reserve 0 --cpu-memory 4GiB";

json findings(const std::string& out) { return json::parse(out)["findings"]; }

json first(const json& list, const std::string& topic) {
  for (const auto& f : list)
    if (f["topic"] == topic) return f;
  ADD_FAILURE() << "no finding about " << topic;
  return json::object();
}

}  // namespace

TEST(Doctor, ReportsEveryGpuItsProcessesTheAllocatorHostMemoryAndMemlock) {
  const auto result = run_vramguard("doctor --simulate rtx4080,rtx4090 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json list = findings(result.out);
  std::set<std::string> gpus;
  for (const auto& f : list)
    if (f["topic"] == "gpu") gpus.insert(f["device"].get<std::string>());
  EXPECT_EQ(gpus, (std::set<std::string>{"cuda:0", "cuda:1"}));
  EXPECT_NE(first(list, "gpu")["summary"].get<std::string>().find("pinned host->device 25.00 GB/s"), std::string::npos);
  EXPECT_EQ(first(list, "processes")["data"]["processes"].back()["ours"], true);
  EXPECT_NE(first(list, "allocator")["summary"].get<std::string>().find("expandable_segments:True"), std::string::npos);
  EXPECT_TRUE(first(list, "host memory")["data"].contains("available_bytes"));
  EXPECT_EQ(first(list, "memlock")["topic"], "memlock");
}

TEST(Doctor, NamesAProcessHoldingTheGpuAsTheUsersOwn) {
  ChildProcess holder({"sleep", "60"});
  const auto result =
      run_vramguard("doctor --simulate rtx4080 --simulate-process 0=6GB@" + holder.pid_text() + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json processes = first(findings(result.out), "processes");
  EXPECT_EQ(processes["severity"], "warning");
  const json p = processes["data"]["processes"][0];
  EXPECT_EQ(p["pid"], holder.pid());
  EXPECT_EQ(p["name"], "sleep");
  EXPECT_EQ(p["own_user"], true);
  EXPECT_EQ(p["bytes"], 6'000'000'000u);
  EXPECT_NE(processes["remedy"].get<std::string>().find("--terminate-own"), std::string::npos);
}

TEST(Doctor, WarnsOfASmallMemlockLimitAndAnAllocatorWithoutExpandableSegments) {
  const auto result = run_vramguard("doctor --simulate rtx4080 --simulate-memlock 64KiB --json",
                                    "PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json list = findings(result.out);
  const json memlock = first(list, "memlock");
  EXPECT_EQ(memlock["severity"], "warning");
  EXPECT_EQ(memlock["data"]["limit_bytes"], 65536);
  EXPECT_EQ(memlock["data"]["simulated"], true);
  const json allocator = first(list, "allocator");
  EXPECT_EQ(allocator["severity"], "warning");
  EXPECT_NE(allocator["summary"].get<std::string>().find("set by you, in PYTORCH_CUDA_ALLOC_CONF"), std::string::npos);
}

TEST(Doctor, WithAModelSaysWhatFitsAndWritesAConfigThatPlans) {
  TempDir tmp;
  const std::string config = (tmp / "works.ini").string();
  auto result =
      run_vramguard("doctor " + shell_quote(kModel) + kCard + " --write-config " + shell_quote(config) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json doc = json::parse(result.out);
  EXPECT_EQ(doc["blocked"], false);
  ASSERT_TRUE(doc.contains("recommended_strategy"));
  EXPECT_EQ(first(doc["findings"], "strategies")["severity"], "ok");
  // The written config plans the model by itself.
  result = run_vramguard("plan " + shell_quote(kModel) + " --config " + shell_quote(config));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Plan: " + doc["recommended_strategy"].get<std::string>()), std::string::npos)
      << result.out;
}

TEST(Doctor, ExitsOneWhenAProcessLeavesNoRoomAndTwoForWriteConfigWithoutAModel) {
  ChildProcess holder({"sleep", "60"});
  auto result =
      run_vramguard("doctor " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" + holder.pid_text());
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("[BLOCKS] no strategy fits"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("fix --terminate-own"), std::string::npos) << result.out;
  result = run_vramguard("doctor --simulate rtx4080 --write-config x.ini");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--write-config needs a MODEL"), std::string::npos) << result.err;
}

TEST(Fix, StopsTheUsersOwnProcessWithConsentThenLoadsAndWritesTheConfig) {
  TempDir tmp;
  ChildProcess holder({"sleep", "60"});
  const std::string config = (tmp / "fixed.ini").string();
  const auto result =
      run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" + holder.pid_text() +
                    " --terminate-own --yes --grace 5 --write-config " + shell_quote(config) + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  const json doc = json::parse(result.out);
  EXPECT_EQ(doc["loaded"], true);
  ASSERT_EQ(doc["stopped"].size(), 1u);
  EXPECT_EQ(doc["stopped"][0]["pid"], holder.pid());
  EXPECT_EQ(doc["stopped"][0]["killed"], false);
  EXPECT_EQ(holder.exit_signal(), SIGTERM);
  EXPECT_TRUE(fs::exists(config));
  EXPECT_NE(doc["config"].get<std::string>().find("strategy = "), std::string::npos);
}

TEST(Fix, WithoutTerminateOwnOnlySaysWhichProcessesToStop) {
  ChildProcess holder({"sleep", "60"});
  const auto result =
      run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" + holder.pid_text());
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find("yours: pid " + holder.pid_text()), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("stopping it frees that much"), std::string::npos) << result.out;
  EXPECT_TRUE(holder.running());
}

TEST(Fix, AsksBeforeStoppingAndRefusesWithoutATerminalOrYes) {
  ChildProcess holder({"sleep", "60"});
  const auto result = run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" +
                                    holder.pid_text() + " --terminate-own");
  EXPECT_EQ(result.exit_code, 2) << result.out;
  EXPECT_NE(result.err.find("no terminal to ask"), std::string::npos) << result.err;
  EXPECT_TRUE(holder.running());
}

TEST(Fix, KillsAProcessThatIgnoresSigtermAfterTheGracePeriod) {
  ChildProcess stubborn({"sh", "-c", "trap '' TERM; while :; do sleep 1; done"});
  const auto result = run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" +
                                    stubborn.pid_text() + " --terminate-own --yes --grace 1 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json doc = json::parse(result.out);
  EXPECT_EQ(doc["stopped"][0]["killed"], true);
  EXPECT_EQ(stubborn.exit_signal(), SIGKILL);
}

TEST(Fix, NeverStopsItsOwnAncestors) {
  // This test process is an ancestor of the vramguard it starts (through the shell).
  const std::string self = std::to_string(::getpid());
  const auto result = run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" + self +
                                    " --terminate-own --yes --json");
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const json doc = json::parse(result.out);
  EXPECT_TRUE(doc["stopped"].empty());
  ASSERT_EQ(doc["not_stopped"].size(), 1u);
  EXPECT_NE(doc["not_stopped"][0]["why"].get<std::string>().find("ancestor"), std::string::npos);
}

TEST(Fix, NeverStopsAnotherUsersProcess) {
  if (::getuid() != 0) GTEST_SKIP() << "starting a process as another user needs root";
  ChildProcess others({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"});
  const auto result = run_vramguard("fix " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" +
                                    others.pid_text() + " --terminate-own --yes --json");
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const json doc = json::parse(result.out);
  EXPECT_TRUE(doc["stopped"].empty());
  ASSERT_EQ(doc["not_stopped"].size(), 1u);
  EXPECT_NE(doc["not_stopped"][0]["why"].get<std::string>().find("not to you"), std::string::npos);
  EXPECT_TRUE(others.running());
}

TEST(LoadReport, NamesTheProcessesThatShrankTheBudgetAndWhatToDo) {
  ChildProcess holder({"sleep", "60"});
  const auto result =
      run_vramguard("load " + shell_quote(kModel) + kCard + " --simulate-process 0=300MB@" + holder.pid_text());
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.out.find("others 0.30 GB"), std::string::npos) << "every stage line shows other processes' memory\n"
                                                                  << result.out;
  EXPECT_NE(result.out.find("Other processes holding GPU memory"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("process " + holder.pid_text() + " (sleep"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("stopping it frees that much"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("see 'What to do' in the report"), std::string::npos) << result.err;
}

TEST(Doctor, ReportsEachCardsFactsAndWarnsOfANarrowLinkAndMig) {
  const auto result = run_vramguard("doctor --simulate rtx4080,h200 --simulate-pcie 0=4x4 --simulate-mig 1 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const json list = findings(result.out);
  json card0, card1, mig;
  for (const auto& f : list) {
    if (f["topic"] == "gpu" && f["device"] == "cuda:0" && f["data"].contains("compute_capability")) card0 = f;
    if (f["topic"] == "gpu" && f["device"] == "cuda:1" && f["data"].contains("compute_capability")) card1 = f;
    if (f["topic"] == "gpu" && f["summary"].get<std::string>().find("MIG") != std::string::npos) mig = f;
  }
  EXPECT_EQ(card0["data"]["compute_capability"], "8.9");
  EXPECT_EQ(card0["data"]["pcie_width"], 4);
  EXPECT_EQ(card0["data"]["max_pcie_width"], 16);
  EXPECT_EQ(card0["severity"], "warning") << "a x4 link carries a quarter of what the card is made for";
  EXPECT_NE(card0["remedy"].get<std::string>().find("full-width slot"), std::string::npos);
  EXPECT_EQ(card1["severity"], "ok");
  EXPECT_EQ(card1["data"]["ecc_enabled"], true);
  EXPECT_EQ(mig["severity"], "warning");
  EXPECT_EQ(mig["device"], "cuda:1");
}

// ---- fix's signals reach only the process that was listed, and root's "own" is its session's ----

TEST(ProcessControl, ASignalGoesOnlyToTheProcessThatWasListed) {
  // fix lists `sleep`, the user answers later: if that process has exited and another took its pid,
  // the other must be left alone. A start time that does not match stands for that other process.
  ChildProcess child({"sleep", "30"});
  const vramguard::GpuProcess listed{static_cast<std::uint32_t>(child.pid()), "sleep", "", 1, std::nullopt, ""};
  const std::uint64_t started = vramguard::start_ticks_of(listed);
  ASSERT_GT(started, 0u);
  auto outcome = vramguard::stop_process(listed, started + 1, std::chrono::milliseconds(500));
  EXPECT_FALSE(outcome.stopped);
  EXPECT_NE(outcome.error.find("another process"), std::string::npos) << outcome.error;
  EXPECT_TRUE(child.running()) << "a process fix was not asked about was signalled";
  outcome = vramguard::stop_process(listed, started, std::chrono::milliseconds(2000));
  EXPECT_TRUE(outcome.stopped) << outcome.error;
  EXPECT_FALSE(child.running());
}

TEST(ProcessControl, SystemProcessesAndOtherSessionsAreNeverYours) {
  const auto refusal = [](pid_t pid) {
    return vramguard::refusal_to_stop({static_cast<std::uint32_t>(pid), "", "", 1, std::nullopt, ""});
  };
  EXPECT_FALSE(refusal(1).empty()) << "PID 1 was offered";
  ChildProcess same_session({"sleep", "30"});
  EXPECT_EQ(refusal(same_session.pid()), "") << "a process this session started is the user's";
  ChildProcess other_session({"setsid", "sleep", "30"});
  if (::getuid() == 0) {
    // Under root every root process is "yours" by uid: the session decides (kthreadd was once listed).
    EXPECT_NE(refusal(other_session.pid()).find("not started from this session"), std::string::npos)
        << refusal(other_session.pid());
    for (pid_t pid = 2; pid < 200; ++pid)
      if (const auto info = vramguard::read_process(pid); info && info->kernel_thread) {
        EXPECT_FALSE(refusal(pid).empty()) << "kernel thread " << pid << " (" << info->name << ") was offered";
      }
  } else {
    EXPECT_EQ(refusal(other_session.pid()), "") << "not root: the user's own processes are theirs, from any session";
  }
}

TEST(Fix, LoadsWithTheStrategyDoctorRecommendsAndDoctorRepeatsTheConfig) {
  // One recommendation: the config says sequential-offload, doctor weighs the fastest that fits now against
  // it (kept where the difference is a tie within 2 %), and fix loads with that one; doctor's command to
  // run carries the config it was given.
  TempDir tmp;
  const std::string config =
      tmp.write("slow.ini", "strategy = sequential-offload\nsimulate = cuda:1GB\nreserve = 0\ncpu_memory = 4GiB\n")
          .string();
  const auto doctor = run_vramguard("doctor " + shell_quote(kModel) + " --config " + shell_quote(config) + " --json");
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  const json report = json::parse(doctor.out);
  const std::string recommended = report["recommended_strategy"];
  const std::string verdict = first(report["findings"], "strategies")["summary"];
  EXPECT_NE(verdict.find(recommended == "sequential-offload" ? "Keep sequential-offload" : "Pick " + recommended),
            std::string::npos)
      << verdict;
  EXPECT_NE(first(report["findings"], "strategies").dump().find("--config " + config + " --strategy " + recommended),
            std::string::npos)
      << report.dump(2);
  const auto fix = run_vramguard("fix " + shell_quote(kModel) + " --config " + shell_quote(config) + " --json");
  ASSERT_EQ(fix.exit_code, 0) << fix.err;
  EXPECT_EQ(json::parse(fix.out)["load"]["strategy"], recommended);
  // A --strategy on the command line goes first.
  const auto chosen = run_vramguard("fix " + shell_quote(kModel) + " --config " + shell_quote(config) +
                                    " --strategy sequential-offload --json");
  ASSERT_EQ(chosen.exit_code, 0) << chosen.err;
  EXPECT_EQ(json::parse(chosen.out)["load"]["strategy"], "sequential-offload");
}
