#pragma once
// A real child process for tests that need one holding (simulated) GPU memory: started with execvp,
// killed and reaped when the test ends. exit_signal() says how it ended.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vramguard::testing {

class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> argv) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    // Let it reach exec (its /proc entry then shows the command).
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~ChildProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string pid_text() const { return std::to_string(pid_); }
  // Whether it is still running (reaps it once it has ended).
  bool running() {
    if (status_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
    return !status_;
  }
  // Its exit code once it has exited by itself, nullopt while it runs or when a signal ended it.
  std::optional<int> exit_code() {
    if (running() || WIFSIGNALED(*status_)) return std::nullopt;
    return WEXITSTATUS(*status_);
  }
  // The signal that ended it, 0 when it exited, nullopt while it runs.
  std::optional<int> exit_signal() {
    if (running()) return std::nullopt;
    return WIFSIGNALED(*status_) ? WTERMSIG(*status_) : 0;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace vramguard::testing
