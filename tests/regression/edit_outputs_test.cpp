// `vramguard edit` loses nothing through its outputs: no output replaces a file the edit reads (the
// pipeline's weights, configs and tokenizer, the picture, the noise), however it is spelled; outputs
// never replace each other; an output that cannot be written is refused before the work, not after
// it; and a write that fails leaves what was there. (A hostile probe found each of these in edit.)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/run_process.hpp"
#include "support/safetensors_files.hpp"
#include "support/temp_dir.hpp"

using namespace vramguard::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fs::path(TEST_DATA_DIR) / "fixtures" / "qie_pipeline_tiny";
const std::string kSimulated = " --simulate cuda:3GB --cpu-memory 4GiB";

// A writable copy of the fixture's pipeline, its picture and its noise, in `tmp`.
struct EditCopy {
  fs::path pipeline, image, latents;
  explicit EditCopy(const TempDir& tmp)
      : pipeline(tmp / "pipeline"), image(tmp / "pictures" / "input.png"), latents(tmp / "noise.safetensors") {
    fs::copy(kFixture / "pipeline", pipeline, fs::copy_options::recursive);
    fs::create_directories(image.parent_path());
    fs::copy_file(kFixture / "input.png", image);
    fs::copy_file(kFixture / "inputs.safetensors", latents);
  }
  // A small edit of the copy: the fixture's noise at its size, two steps, no true CFG.
  std::string call() const {
    return "edit " + shell_quote(pipeline.string()) + " --image " + shell_quote(image.string()) +
           " --prompt sky --steps 2 --height 256 --width 384 --latents " + shell_quote(latents.string()) + kSimulated;
  }
};

void expect_refused_before_loading(const ProcessResult& result, const std::string& why) {
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find(why), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("load..."), std::string::npos) << "it loaded before refusing: " << result.err;
}

}  // namespace

TEST(EditOutputs, NoOutputReplacesAFileTheEditReads) {
  TempDir tmp;
  const EditCopy copy(tmp);
  const fs::path weights = copy.pipeline / "transformer" / "diffusion_pytorch_model.safetensors";
  const std::vector<fs::path> read = {weights, copy.pipeline / "model_index.json",
                                      copy.pipeline / "tokenizer" / "tokenizer.json", copy.image, copy.latents};
  std::vector<std::string> before;
  for (const auto& file : read) before.push_back(read_file(file));
  // Each named as it is, and the picture also through a detour (pictures/../pictures/input.png).
  std::vector<std::string> targets;
  for (const auto& file : read) targets.push_back(file.string());
  targets.push_back((copy.image.parent_path() / ".." / "pictures" / "input.png").string());
  for (const auto& target : targets)
    for (const std::string option : {"--output", "--output-latents", "--report"}) {
      SCOPED_TRACE(option + " " + target);
      const std::string output = option == "--output" ? "" : " --output " + shell_quote((tmp / "r.png").string());
      expect_refused_before_loading(run_vramguard(copy.call() + output + " " + option + " " + shell_quote(target)),
                                    "one of the files this command reads");
    }
  for (std::size_t i = 0; i < read.size(); ++i) EXPECT_EQ(read_file(read[i]), before[i]) << read[i];
}

TEST(EditOutputs, OutputsNeverReplaceEachOther) {
  TempDir tmp;
  const EditCopy copy(tmp);
  const std::string png = shell_quote((tmp / "out.png").string());
  const std::string same_png = shell_quote((tmp / "pictures" / ".." / "out.png").string());
  for (const std::string& outputs :
       {" --output " + png + " --output-latents " + same_png, " --output " + png + " --report " + png,
        " --output " + png + " --output-latents " + shell_quote((tmp / "l").string()) + " --report " +
            shell_quote((tmp / "l").string())}) {
    SCOPED_TRACE(outputs);
    expect_refused_before_loading(run_vramguard(copy.call() + outputs), "goes there too");
  }
}

TEST(EditOutputs, AnOutputThatCannotBeWrittenIsRefusedBeforeTheWork) {
  TempDir tmp;
  const EditCopy copy(tmp);
  const fs::path fifo = tmp / "pipe.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& [output, why] : std::vector<std::pair<std::string, std::string>>{
           {(tmp / "missing" / "out.png").string(), "does not exist"},
           {"", "its path is empty"},
           {fifo.string(), "not a regular file"},
           {tmp.path().string(), "it is a folder"},
       }) {
    SCOPED_TRACE(output);
    // `timeout`: a FIFO once made the edit wait for a reader for ever, after all its work.
    expect_refused_before_loading(
        run_vramguard(copy.call() + " --output " + shell_quote(output), "", "timeout --preserve-status 120"), why);
  }
  // Inputs that are not regular files are refused too, instead of waited on.
  for (const std::string input : {" --image ", " --latents "}) {
    SCOPED_TRACE(input);
    const std::string call = "edit " + shell_quote(copy.pipeline.string()) + " --prompt sky --steps 2" + kSimulated +
                             " --output " + shell_quote((tmp / "out.png").string()) +
                             (input == " --image " ? " --image " + shell_quote(fifo.string())
                                                   : " --image " + shell_quote(copy.image.string()) + " --latents " +
                                                         shell_quote(fifo.string()));
    const auto result = run_vramguard(call, "", "timeout --preserve-status 120");
    expect_refused_before_loading(result, "not a regular file");
  }
}

TEST(EditOutputs, ExistingOutputsAreReplacedWholeAndAFailedWriteRemovesNothing) {
  TempDir tmp;
  const EditCopy copy(tmp);
  // Existing files are replaced (said on stderr), with exit 0: once, the log line saying so failed the
  // edit with "logger with name 'vramguard' already exists".
  const fs::path png = tmp / "out.png", latents = tmp / "latents.safetensors", report = tmp / "report.json";
  for (const auto& file : {png, latents, report}) std::ofstream(file) << "old";
  const auto replaced = run_vramguard(copy.call() + " --output " + shell_quote(png.string()) + " --output-latents " +
                                      shell_quote(latents.string()) + " --report " + shell_quote(report.string()));
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  for (const auto& file : {png, latents, report}) EXPECT_NE(read_file(file), "old") << file;
  EXPECT_NE(replaced.err.find("replaced the existing"), std::string::npos) << replaced.err;
  // A device that fails every write (a private /dev/full: libpng once removed its target on failure,
  // so that as root the edit deleted /dev/full itself). Making one needs CAP_MKNOD.
  const fs::path full = tmp / "full";
  if (::mknod(full.c_str(), S_IFCHR | 0600, makedev(1, 7)) != 0) GTEST_SKIP() << "mknod needs CAP_MKNOD";
  const auto failed = run_vramguard(copy.call() + " --output " + shell_quote(full.string()));
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_NE(failed.err.find("cannot write the picture"), std::string::npos) << failed.err;
  struct stat st {};
  ASSERT_EQ(::lstat(full.c_str(), &st), 0) << "the device was removed";
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}
