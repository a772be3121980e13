// train_test_util.h: a scratch run directory with a generated corpus for trainer tests.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>

#include <sys/wait.h>

#include "../test_util.h"
#include "io/remove_tree.h"

namespace moescope::testing {

// A temp directory holding corpus.txt (~24 KB of generated English-like text) and a cache dir.
struct ScratchRun {
  std::filesystem::path root;
  explicit ScratchRun(const std::string& name) {
    root = std::filesystem::temp_directory_path() / ("moescope-test-" + name + "-" + std::to_string(::getpid()));
    remove_tree(root.string());
    std::filesystem::create_directories(root);
    std::ofstream f(root / "corpus.txt");
    const char* words[] = {"the", "king", "and",   "queen",  "of",    "a",     "land",  "where",  "rivers", "run",
                           "to",  "sea",  "under", "bright", "stars", "night", "falls", "softly", "on",     "hills"};
    std::mt19937 rng(7);
    for (int line = 0; line < 600; ++line) {
      int n = 4 + static_cast<int>(rng() % 8);
      for (int w = 0; w < n; ++w) f << (w ? " " : "") << words[rng() % 20];
      f << (line % 3 == 2 ? ".\n" : ",\n");
    }
  }
  ~ScratchRun() { remove_tree_nothrow(root.string()); }
  std::string corpus() const { return (root / "corpus.txt").string(); }
  std::string cache() const { return (root / "cache").string(); }
  std::string run(const std::string& n) const { return (root / n).string(); }
  // The tiny preset pointed at this corpus, plus overrides.
  Config config(std::vector<std::string> sets = {}) const {
    sets.insert(sets.begin(), {"data.path=" + corpus(), "data.cache_dir=" + cache()});
    return tiny_config(sets);
  }
};

#ifdef MOESCOPE_BINARY
// Runs the moescope binary with `args`: {exit status, output}. stderr is folded into stdout, or
// dropped with with_stderr = false (for commands whose stdout is parsed as JSON).
inline std::pair<int, std::string> cli(const std::string& args, bool with_stderr = true) {
  std::string out;
  FILE* f = popen((std::string(MOESCOPE_BINARY) + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = pclose(f);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
#endif

}  // namespace moescope::testing
