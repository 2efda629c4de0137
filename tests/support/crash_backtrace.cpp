// Linked into the test binaries: a test that crashes prints where, so that a failure on a machine
// without a debugger (the GPU machine) still says what to fix.
#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <initializer_list>

namespace {

void print_backtrace(int signal_number) {
  const char* what = strsignal(signal_number);
  (void)!::write(STDERR_FILENO, "\n*** test crashed: ", 19);
  (void)!::write(STDERR_FILENO, what, std::strlen(what));
  (void)!::write(STDERR_FILENO, "\n", 1);
  void* frames[64];
  const int count = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, count, STDERR_FILENO);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

const bool installed = [] {
  for (int s : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(s, print_backtrace);
  return true;
}();

}  // namespace
