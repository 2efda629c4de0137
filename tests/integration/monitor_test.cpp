// monitor's parts and the command: alerts cross and come back, the sampler keeps sampling whatever
// the web server's clients do (malformed requests, slow clients, many connections), the endpoints say
// what they should, the metrics log stays bounded, and the CLI's JSON lines, --on-alert and refusals.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <latch>
#include <set>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include "core/errors.hpp"
#include "core/metrics_log.hpp"
#include "devices/simulated_runtime.hpp"
#include "monitor/alerts.hpp"
#include "monitor/http_server.hpp"
#include "monitor/monitor_report.hpp"
#include "monitor/sampler.hpp"
#include "support/http_client.hpp"
#include "support/run_process.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard;
using namespace vramguard::testing;
using namespace std::chrono_literals;

namespace {

GpuReading reading(int index, std::uint64_t used, std::uint64_t total = 16'000'000'000) {
  return {index, "gpu" + std::to_string(index), total, used, total - used, {}};
}

// A source that reports a fixed 8 GB of 16 used, counting its reads.
class FixedSource final : public GpuSource {
 public:
  std::string kind() const override { return "simulated"; }
  std::vector<GpuReading> read() override { return {reading(0, 8'000'000'000)}; }
};

// Every sample line of Prometheus text is NAME{LABELS} VALUE or NAME VALUE.
void expect_exposition_format(const std::string& text) {
  std::istringstream lines(text);
  const std::regex sample_line(R"(^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+$)");
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] != '#') {
      EXPECT_TRUE(std::regex_match(line, sample_line)) << line;
    }
}

struct ServedSampler {
  Sampler sampler{std::make_unique<FixedSource>(), parse_threshold("90%"), 0.05, {}};
  std::unique_ptr<HttpServer> server;
  explicit ServedSampler(HttpServerOptions options = {}) {
    sampler.start();
    server = std::make_unique<HttpServer>(options, [this](const std::string& target) -> HttpResponse {
      if (target == "/api/state") return {200, "application/json", state_json(sampler.state()).dump()};
      return {404, "text/plain", "not found\n"};
    });
  }
};

}  // namespace

TEST(Alerts, FireOnCrossingUpAndAgainOnComingBackBelow) {
  AlertTracker tracker(parse_threshold("50%"));
  EXPECT_TRUE(tracker.update(1, {reading(0, 1'000'000'000)}).empty());  // below from the start: nothing
  auto events = tracker.update(2, {reading(0, 9'000'000'000)});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].above);
  EXPECT_EQ(events[0].threshold_bytes, 8'000'000'000u);
  EXPECT_TRUE(tracker.update(3, {reading(0, 9'500'000'000)}).empty());  // still above: once
  events = tracker.update(4, {reading(0, 2'000'000'000)});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].above);
  EXPECT_EQ(tracker.fired(0), 1u);
  // A GPU above at the first reading alerts at once.
  AlertTracker sized(parse_threshold("14GB"));
  EXPECT_EQ(sized.update(1, {reading(0, 15'000'000'000)}).size(), 1u);
}

TEST(Alerts, AThresholdIsAPercentageOrASizeAndAnythingElseIsRefused) {
  EXPECT_EQ(parse_threshold("90%").bytes_for(1000), 900u);
  EXPECT_EQ(parse_threshold("2GB").bytes_for(1000), 2'000'000'000u);
  for (const char* bad : {"0%", "101%", "abc%", "ninety", "0", "12gb"})
    EXPECT_THROW(parse_threshold(bad), UsageError) << bad;
}

TEST(MonitorServer, AnswersGetsAndRefusesMalformedRequestsAndOtherMethods) {
  ServedSampler served;
  std::this_thread::sleep_for(150ms);
  const std::string state = get(served.server->port(), "/api/state");
  EXPECT_NE(state.find("HTTP/1.1 200"), std::string::npos) << state;
  const auto body = nlohmann::json::parse(state.substr(state.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["gpus"][0]["used_bytes"], 8'000'000'000u);
  EXPECT_NE(get(served.server->port(), "/nothing").find("HTTP/1.1 404"), std::string::npos);
  EXPECT_NE(
      send_request(served.server->port(), "POST /api/state HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
          .find("HTTP/1.1 405"),
      std::string::npos);
  EXPECT_NE(send_request(served.server->port(), "GARBAGE\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
  EXPECT_NE(send_request(served.server->port(),
                         "GET / HTTP/1.1\r\nHost: localhost\r\n" + std::string(20000, 'a') + ": b\r\n\r\n")
                .find("HTTP/1.1 400"),
            std::string::npos)
      << "headers past 8 KiB";
  const std::string head = send_request(served.server->port(), "HEAD /api/state HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_NE(head.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(head.substr(head.find("\r\n\r\n") + 4), "") << "HEAD has no body";
}

TEST(MonitorServer, ASlowClientIsDroppedAndHoldsNobodyUp) {
  HttpServerOptions options;
  options.io_timeout_seconds = 0.5;
  ServedSampler served(options);
  const int slow = connect_to(served.server->port());
  ASSERT_GE(slow, 0);
  (void)!::send(slow, "GET /api/st", 11, MSG_NOSIGNAL);  // and nothing more
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_NE(get(served.server->port(), "/api/state").find("HTTP/1.1 200"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 400ms) << "another client waited for the slow one";
  char byte;
  EXPECT_EQ(::recv(slow, &byte, 1, 0), 0) << "the slow client was not dropped after the deadline";
  ::close(slow);
}

TEST(MonitorServer, ManyConnectionsNeitherBlockTheSamplerNorOutliveTheirDeadline) {
  HttpServerOptions options;
  options.io_timeout_seconds = 0.5;
  options.max_connections = 16;
  ServedSampler served(options);
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i)
    if (const int fd = connect_to(served.server->port()); fd >= 0) idle.push_back(fd);
  EXPECT_GT(idle.size(), 100u);
  const auto before = served.sampler.state().samples;
  std::this_thread::sleep_for(300ms);
  EXPECT_GE(served.sampler.state().samples, before + 4) << "the sampler was held up by the connections";
  std::this_thread::sleep_for(700ms);  // the idle ones have passed their deadline and were closed
  EXPECT_NE(get(served.server->port(), "/api/state").find("HTTP/1.1 200"), std::string::npos);
  for (int fd : idle) ::close(fd);
}

TEST(MonitorServer, AnswersOnlyRequestsThatNameItUnlessRemoteClientsAreAllowed) {
  // A page of another site whose DNS name rebinds to 127.0.0.1 sends its own name as Host: refused, as
  // every name but this server's.
  ServedSampler served;
  const auto port = std::to_string(served.server->port());
  auto with_host = [&](const std::string& host) {
    return send_request(served.server->port(), "GET /api/state HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
  };
  for (const std::string& host : std::vector<std::string>{"localhost", "localhost:" + port, "127.0.0.1:" + port,
                                                          "[::1]:" + port, "LOCALHOST:" + port})
    EXPECT_NE(with_host(host).find("HTTP/1.1 200"), std::string::npos) << host;
  for (const std::string& host : std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.1:1",
                                                          "localhost.evil.example:" + port, "[::1"})
    EXPECT_NE(with_host(host).find("HTTP/1.1 421"), std::string::npos) << host;
  EXPECT_NE(send_request(served.server->port(), "GET /api/state HTTP/1.0\r\n\r\n").find("HTTP/1.1 421"),
            std::string::npos)
      << "a request that names no host";
  HttpServerOptions remote;
  remote.allow_remote = true;
  ServedSampler open(remote);
  EXPECT_NE(
      send_request(open.server->port(), "GET /api/state HTTP/1.1\r\nHost: gpu-box.lan\r\n\r\n").find("HTTP/1.1 200"),
      std::string::npos);
}

TEST(MonitorServer, IdleConnectionsAtTheCapMakeRoomForANewClient) {
  // 64 clients that connect and say nothing once held every slot until their 5 s deadline.
  HttpServerOptions options;
  options.max_connections = 8;
  options.io_timeout_seconds = 5;
  ServedSampler served(options);
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i)
    if (const int fd = connect_to(served.server->port()); fd >= 0) idle.push_back(fd);
  ASSERT_EQ(idle.size(), 8u);
  std::this_thread::sleep_for(100ms);
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_NE(get(served.server->port(), "/api/state").find("HTTP/1.1 200"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s) << "the new client waited for the idle ones' deadline";
  char byte;
  EXPECT_EQ(::recv(idle.front(), &byte, 1, 0), 0) << "the oldest idle connection was not the one let go";
  for (int fd : idle) ::close(fd);
}

TEST(MonitorServer, StopWritesTheAnswersAlreadyGivenAndClosesTheIdleAndTheDoor) {
  // serve answers its last edit and stops the server at once (SIGTERM during an edit): that answer must
  // reach its client, where stopping the thread at once dropped it.
  std::promise<HttpServer::Respond> asked;
  HttpServer server({}, [&asked](HttpRequest, HttpServer::Respond respond, std::shared_ptr<const std::atomic<bool>>) {
    asked.set_value(std::move(respond));  // answered later, from another thread, as an edit is
  });
  const std::uint16_t port = server.port();
  const int idle = connect_to(port);  // connected, never asks
  ASSERT_GE(idle, 0);
  std::string answer;
  std::thread client([&] { answer = get(port, "/edit"); });
  auto respond = asked.get_future().get();
  respond({200, "text/plain", "the last edit\n"});
  server.stop();
  client.join();
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_NE(answer.find("the last edit"), std::string::npos) << answer;
  char byte;
  EXPECT_EQ(::recv(idle, &byte, 1, 0), 0) << "the idle connection was left open";
  ::close(idle);
  EXPECT_EQ(connect_to(port), -1) << "the stopped server still accepts";
}

TEST(MonitorServer, ServesOnlyLoopbackUnlessAllowed) {
  HttpServerOptions options;
  options.address = "0.0.0.0";
  EXPECT_THROW(HttpServer(options, [](const std::string&) { return HttpResponse{}; }), UsageError);
  options.allow_remote = true;
  HttpServer remote(options, [](const std::string&) { return HttpResponse{}; });
  EXPECT_GT(remote.port(), 0);
  options.address = "not-an-address";
  EXPECT_THROW(HttpServer(options, [](const std::string&) { return HttpResponse{}; }), UsageError);
}

TEST(MonitorReport, PrometheusTextHasEveryFamilyWithEscapedLabelsAndTheMetricsLog) {
  MonitorState state;
  state.threshold = parse_threshold("90%");
  Sample sample;
  sample.gpus = {reading(0, 5'000'000'000)};
  sample.gpus[0].processes.push_back({42, "say \"hi\"", "alice", 1'000'000'000, 1000u, "python"});
  state.history = {sample};
  state.samples = 1;
  const std::vector<nlohmann::json> log = {{{"kind", "load"},
                                            {"model", "m"},
                                            {"strategy", "auto"},
                                            {"success", true},
                                            {"load_seconds", 1.5},
                                            {"peak_bytes", {{"cuda:0", 7}}}},
                                           {{"kind", "run"},
                                            {"model", "m"},
                                            {"strategy", "auto"},
                                            {"success", true},
                                            {"load_seconds", 2.5},
                                            {"median_step_seconds", 0.25}}};
  const std::string text = prometheus_text(state, log);
  for (const char* family :
       {"vramguard_gpu_memory_used_bytes", "vramguard_gpu_memory_free_bytes", "vramguard_gpu_process_memory_bytes",
        "vramguard_alerts_fired_total", "vramguard_loads_total", "vramguard_load_seconds_sum",
        "vramguard_last_step_seconds", "vramguard_last_load_peak_bytes"})
    EXPECT_NE(text.find(std::string(family)), std::string::npos) << family;
  EXPECT_NE(text.find(R"(name="say \"hi\"")"), std::string::npos);
  EXPECT_NE(text.find("vramguard_load_seconds_count{strategy=\"auto\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("vramguard_last_step_seconds{model=\"m\",strategy=\"auto\"} 0.25"), std::string::npos) << text;
  expect_exposition_format(text);
}

TEST(MonitorReport, MalformedMetricsRecordsAreSkippedAndCountedAndNoLabelInjectsALine) {
  MonitorState state;
  state.threshold = parse_threshold("90%");
  const std::vector<nlohmann::json> log = {
      {{"kind", "load\"} 1\nvramguard_injected 1\n#"},
       {"model", "m"},
       {"strategy", "auto"},
       {"success", true},
       {"load_seconds", 1.5}},
      {{"kind", 7}, {"success", true}},        // kind is not a string
      {{"kind", "load"}, {"success", "yes"}},  // success is not a boolean
      {{"kind", "load"}, {"success", true}, {"load_seconds", "fast"}},
      {{"kind", "load"}, {"success", true}, {"load_seconds", 1.0}, {"peak_bytes", {{"cuda:0", -3}}}},
      nlohmann::json::array({1, 2}),
      {{"kind", "run"}, {"model", "m"}, {"strategy", "auto"}, {"success", true}, {"load_seconds", 2.5}}};
  std::string text;
  ASSERT_NO_THROW(text = prometheus_text(state, log));
  EXPECT_NE(text.find("vramguard_metrics_log_skipped_records_total 5"), std::string::npos) << text;
  EXPECT_NE(text.find("vramguard_load_seconds_count{strategy=\"auto\"} 2"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nvramguard_injected"), std::string::npos) << "a label value injected a line";
  expect_exposition_format(text);
}

TEST(MetricsLog, ALineThatIsNotARecordIsReadAsNullAndCountedByMetrics) {
  TempDir tmp;
  const Environment environment = {{"VRAMGUARD_STATE_DIR", tmp.path().string()}};
  EXPECT_EQ(append_metrics_record(environment,
                                  {{"kind", "load"}, {"success", true}, {"load_seconds", 1.0}, {"strategy", "auto"}}),
            "");
  std::ofstream(metrics_log_path(environment), std::ios::app) << "{not json\n[1,2]\n";
  EXPECT_EQ(append_metrics_record(environment,
                                  {{"kind", "run"}, {"success", true}, {"load_seconds", 2.0}, {"strategy", "auto"}}),
            "");
  const auto records = read_metrics_log(environment);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_TRUE(records[1].is_null());
  EXPECT_TRUE(records[2].is_null());
  MonitorState state;
  state.threshold = parse_threshold("90%");
  const std::string text = prometheus_text(state, records);
  EXPECT_NE(text.find("vramguard_metrics_log_skipped_records_total 2"), std::string::npos) << text;
  EXPECT_NE(text.find("vramguard_load_seconds_count{strategy=\"auto\"} 2"), std::string::npos) << text;
}

TEST(MetricsLog, ParallelWritersNearTheLimitLoseNoRecordAndTrimmingKeepsTheNewestHalf) {
  // 20 loads at once into a log near its limit once kept 13-17 of their records (writers waiting for
  // the lock wrote into the file renamed away) and the history fell from ~1,100 lines to 42-77.
  TempDir tmp;
  const Environment environment = {{"VRAMGUARD_STATE_DIR", tmp.path().string()}};
  const std::string padding(900, 'x');
  // Just under the limit: the writers below cross it a few records in.
  int old = 0;
  do ASSERT_EQ(append_metrics_record(environment, {{"kind", "load"}, {"old", old++}, {"padding", padding}}), "");
  while (std::filesystem::file_size(metrics_log_path(environment)) + 5 * 1000 < kMetricsLogMaxBytes);
  const auto before = read_metrics_log(environment).size();
  std::latch start(20);
  std::vector<std::thread> writers;
  for (int w = 0; w < 20; ++w)
    writers.emplace_back([&, w] {
      start.arrive_and_wait();
      EXPECT_EQ(append_metrics_record(environment, {{"kind", "load"}, {"writer", w}, {"padding", padding}}), "");
    });
  for (auto& t : writers) t.join();
  const auto records = read_metrics_log(environment);
  std::set<int> seen;
  for (const auto& r : records)
    if (r.is_object() && r.contains("writer")) seen.insert(r["writer"].get<int>());
  EXPECT_EQ(seen.size(), 20u) << "records lost";
  EXPECT_GT(records.size(), before / 3) << "trimmed more than once: " << before << " then " << records.size()
                                        << " records";
  EXPECT_LE(std::filesystem::file_size(metrics_log_path(environment)), kMetricsLogMaxBytes + 4096);
}

TEST(MetricsLog, AppendsReadsAndStaysBounded) {
  TempDir tmp;
  const Environment environment = {{"VRAMGUARD_STATE_DIR", tmp.path().string()}};
  EXPECT_EQ(append_metrics_record(environment, {{"kind", "load"}, {"load_seconds", 1.0}}), "");
  auto records = read_metrics_log(environment);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].contains("time"));
  const std::string padding(2000, 'x');
  for (int i = 0; i < 1500; ++i) append_metrics_record(environment, {{"kind", "load"}, {"i", i}, {"padding", padding}});
  EXPECT_LE(std::filesystem::file_size(metrics_log_path(environment)), kMetricsLogMaxBytes + 4096);
  records = read_metrics_log(environment);
  EXPECT_EQ(records.back()["i"], 1499) << "the newest records are kept";
  EXPECT_EQ(metrics_log_path({{"XDG_STATE_HOME", "/x"}}), std::filesystem::path("/x/vramguard/metrics.jsonl"));
  EXPECT_EQ(metrics_log_path({{"HOME", "/home/u"}}),
            std::filesystem::path("/home/u/.local/state/vramguard/metrics.jsonl"));
}

TEST(MonitorCommand, PrintsJsonLinesAndRunsTheAlertCommandWithTheFigures) {
  TempDir tmp;
  const std::string seen = (tmp / "alerts.txt").string();
  const auto result = run_vramguard(
      "monitor --simulate rtx4080 --interval 0.1 --duration 1.2 --alert-above 80% --simulate-usage 0=15GB@0.3 "
      "--simulate-usage 0=1GB@0.7 --json-lines --on-alert " +
      shell_quote("echo \"$VRAMGUARD_ALERT_STATE $VRAMGUARD_ALERT_GPU $VRAMGUARD_ALERT_USED_BYTES "
                  "$VRAMGUARD_ALERT_THRESHOLD_BYTES\" >> " +
                  shell_quote(seen)));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::vector<std::string> states;
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto doc = nlohmann::json::parse(line);
    if (doc["type"] == "sample") ++samples;
    if (doc["type"] == "alert") states.push_back(doc["state"]);
  }
  EXPECT_GE(samples, 8);
  EXPECT_EQ(states, (std::vector<std::string>{"above", "below"}));
  std::this_thread::sleep_for(200ms);  // the commands run on their own
  std::ifstream in(seen);
  std::string above, below;
  std::getline(in, above);
  std::getline(in, below);
  EXPECT_EQ(above, "above 0 15644245094 13743895347");
  EXPECT_EQ(below.substr(0, 8), "below 0 ");
}

TEST(MonitorCommand, AnAlertCommandInheritsNoSocketOfTheServer) {
  // It once kept the listening socket: after the monitor exited the port stayed taken and clients hung.
  TempDir tmp;
  const std::string seen = (tmp / "fds.txt").string();
  const auto result = run_vramguard(
      "monitor --simulate rtx4080 --interval 0.1 --duration 1.2 --alert-above 80% --simulate-usage 0=15GB@0.3 "
      "--serve 127.0.0.1:0 --on-alert " +
      shell_quote("ls -l /proc/$$/fd > " + shell_quote(seen)));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::this_thread::sleep_for(300ms);  // the command runs on its own
  std::ifstream in(seen);
  const std::string fds((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(fds.empty()) << "the alert command did not run";
  EXPECT_EQ(fds.find("socket:"), std::string::npos) << fds;
}

TEST(MonitorCommand, UsageCanChangeWhenAFileAppears) {
  // What a test drives: the crossing happens when it creates the file, not at a time it may miss.
  TempDir tmp;
  const std::string go = (tmp / "go").string();
  std::thread creator([&] {
    std::this_thread::sleep_for(400ms);
    std::ofstream(go).put('x');
  });
  const auto result = run_vramguard(
      "monitor --simulate rtx4080 --interval 0.1 --duration 1.2 --alert-above 80% --json-lines --simulate-usage " +
      shell_quote("0=15GB@file:" + go));
  creator.join();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"state\":\"above\""), std::string::npos) << result.out.substr(0, 2000);
  EXPECT_EQ(run_vramguard("monitor --simulate rtx4080 --duration 0.1 --simulate-usage 0=15GB@file:").exit_code, 2);
}

TEST(MonitorCommand, RefusesWhatItCannotUse) {
  auto result = run_vramguard("monitor --simulate rtx4080 --serve 0.0.0.0:0 --duration 0.1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("not a loopback address"), std::string::npos) << result.err;
  result = run_vramguard("monitor --simulate rtx4080 --alert-above 120% --duration 0.1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--alert-above '120%'"), std::string::npos) << result.err;
  result = run_vramguard("monitor --simulate rtx4080 --interval 0 --duration 0.1");
  EXPECT_EQ(result.exit_code, 2);
  result = run_vramguard("monitor --simulate rtx4080 --serve 127.0.0.1:99999 --duration 0.1");
  EXPECT_EQ(result.exit_code, 2);
  result = run_vramguard("monitor --duration 0.1");  // no NVML on this machine, no --simulate
  if (result.exit_code == 2) {
    EXPECT_NE(result.err.find("NVML"), std::string::npos) << result.err;
  }
}

TEST(MetricsLog, LoadsAndRunsAppendTheirTimingsForMonitor) {
  TempDir tmp;
  const std::string model = std::string(TEST_DATA_DIR) + "/fixtures/qwen2_small/model";
  const std::string state = "VRAMGUARD_STATE_DIR=" + shell_quote(tmp.path().string());
  auto result = run_vramguard("load " + shell_quote(model) + " --simulate cuda:1GB --reserve 0", state);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = run_vramguard("run " + shell_quote(model) + " --simulate cuda:1GB --reserve 0 --steps 2", state);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto records = read_metrics_log({{"VRAMGUARD_STATE_DIR", tmp.path().string()}});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["kind"], "load");
  EXPECT_EQ(records[0]["success"], true);
  EXPECT_TRUE(records[0].contains("load_seconds"));
  EXPECT_EQ(records[1]["kind"], "run");
  EXPECT_TRUE(records[1].contains("median_step_seconds"));
}

TEST(MonitorReport, TheTerminalViewShowsEachGpuItsHistoryProcessesAndAlerts) {
  MonitorState state;
  state.threshold = parse_threshold("50%");
  state.interval_seconds = 1;
  for (std::uint64_t used : {1'000'000'000ULL, 9'000'000'000ULL}) {
    Sample s;
    s.gpus = {reading(0, used)};
    s.gpus[0].processes.push_back({7, "trainer", "bob", used, 1001u, "python train.py"});
    state.history.push_back(s);
  }
  state.active[0] = true;
  state.alerts.push_back({2, 0, "gpu0", true, 9'000'000'000, 16'000'000'000, 8'000'000'000});
  const std::string view = terminal_view(state, 100);
  EXPECT_NE(view.find("cuda:0  gpu0   ALERT"), std::string::npos) << view;
  EXPECT_NE(view.find("56 %"), std::string::npos) << view;
  EXPECT_NE(view.find("▁▅"), std::string::npos) << view;  // 6 % then 56 % of the card
  EXPECT_NE(view.find("7  trainer (bob)"), std::string::npos) << view;
  EXPECT_NE(view.find("cuda:0 above 8.00 GB"), std::string::npos) << view;
}
