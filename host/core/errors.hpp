#pragma once
// The host's error types. Each carries the context a user needs (which input, what is wrong, what
// to do) and the exit code the CLI returns for it: 2 for bad usage or input, 1 for a job that failed.
#include <stdexcept>
#include <string>

namespace vramguard {

// 130 = 128 + SIGINT, as shells report a program that Ctrl-C stopped.
enum class ExitCode : int { ok = 0, job_failed = 1, bad_input = 2, interrupted = 130 };

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message, std::string hint = {})
      : std::runtime_error(message), code_(code), hint_(std::move(hint)) {}
  ExitCode exit_code() const noexcept { return code_; }
  // What the user can do about it; may be empty.
  const std::string& hint() const noexcept { return hint_; }

 private:
  ExitCode code_;
  std::string hint_;
};

// A command line, option, environment variable or config entry the host cannot use.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message, std::string hint = {})
      : Error(ExitCode::bad_input, message, std::move(hint)) {}
};

// A file or folder given as input that is missing, malformed or unsupported.
class InputError : public Error {
 public:
  InputError(std::string path, const std::string& problem, std::string hint = {})
      : Error(ExitCode::bad_input, path + ": " + problem, std::move(hint)), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The job was valid but could not be done (no placement fits, out of memory after every fallback).
class JobError : public Error {
 public:
  explicit JobError(const std::string& message, std::string hint = {})
      : Error(ExitCode::job_failed, message, std::move(hint)) {}
};

// The model does not fit the devices' memory: an allocation ran out, or every strategy the guard
// tried ran out or could not fit. The hint says what would make it fit.
class MemoryError : public JobError {
 public:
  explicit MemoryError(const std::string& message, std::string hint = {}) : JobError(message, std::move(hint)) {}
};

// A plugin misbehaved: its code threw, or it returned something the host cannot use. Names the
// plugin and the file it came from.
class PluginError : public JobError {
 public:
  PluginError(const std::string& plugin, const std::string& file, const std::string& problem)
      : JobError("strategy plugin '" + plugin + "' (" + file + ") " + problem,
                 "this is a bug in the plugin: choose another strategy (vramguard plugins lists them) or report it to "
                 "its author") {}
};

// Ctrl-C or SIGTERM stopped the job; whatever it held was released.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& what = "interrupted")
      : Error(ExitCode::interrupted, what + "; everything it had allocated was released") {}
};

}  // namespace vramguard
