#pragma once
// Runs a command through the shell and captures its exit code, stdout and stderr: the CLI tests
// check what a user would see.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "support/temp_dir.hpp"

namespace vramguard::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

inline ProcessResult run_process(const std::string& command_line) {
  TempDir capture;
  const auto out_file = capture / "stdout";
  const auto err_file = capture / "stderr";
  const std::string full =
      command_line + " </dev/null >" + shell_quote(out_file.string()) + " 2>" + shell_quote(err_file.string());
  const int status = std::system(full.c_str());
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::stringstream out, err;
  out << std::ifstream(out_file).rdbuf();
  err << std::ifstream(err_file).rdbuf();
  result.out = out.str();
  result.err = err.str();
  return result;
}

// The vramguard binary under test, with arguments appended (already quoted by the caller); `wrapper`
// runs it under another program (e.g. "timeout --preserve-status -s INT 1").
// The metrics log of a test run goes to a folder of its own (the test binary's), not the user's.
inline std::string test_state_dir() {
  return (std::filesystem::temp_directory_path() / ("vramguard-test-state-" + std::to_string(::getpid()))).string();
}

inline ProcessResult run_vramguard(const std::string& arguments, const std::string& environment = "",
                                   const std::string& wrapper = "") {
  return run_process(
      "env -u VRAMGUARD_PLUGIN_PATH -u VRAMGUARD_CONFIG VRAMGUARD_STATE_DIR=" + shell_quote(test_state_dir()) + " " +
      environment + " " + wrapper + " " + shell_quote(VRAMGUARD_BINARY) + " " + arguments);
}

}  // namespace vramguard::testing
