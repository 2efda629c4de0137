#pragma once
// A fresh directory for one test, removed with everything in it when the test ends.
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

namespace vramguard::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vramguard-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                            std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                            std::filesystem::perms::others_exec);
  }
  // Removed with libc's nftw, not std::filesystem::remove_all: a test binary linked against a libtorch
  // wheel resolves std::filesystem's iterators to the copies libtorch_cpu.so exports, and removing a
  // copied model folder through them crashed (PyTorch 2.11, on the GPU machine).
  ~TempDir() {
    ::nftw(
        path_.c_str(), [](const char* file, const struct stat*, int, struct FTW*) { return ::remove(file); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  std::filesystem::path write(const std::string& name, const std::string& content) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace vramguard::testing
