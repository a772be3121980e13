// data_test_util.h: helpers for the data pipeline tests (environment overrides, generated
// corpora); scratch directories and error checks come from the io tests' helpers.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/atomic_file.h"
#include "../io/io_test_util.h"  // TempDir, expect_error

namespace moescope::testing {

// Sets (or, with nullopt, unsets) an environment variable; restores the old value on destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Deterministic English-like text of at least `bytes` bytes: words (some with multi-byte UTF-8
// characters), commas, full stops, a newline every dozen or so words.
inline std::string make_corpus(size_t bytes, uint64_t seed = 1) {
  static const char* const kWords[] = {
      "the",   "a",     "of",      "and",    "to",       "in",     "river", "mountain", "quick",   "brown",
      "fox",   "jumps", "over",    "lazy",   "dog",      "café",   "naïve", "résumé",   "über",    "smörgåsbord",
      "city",  "jury",  "said",    "Friday", "election", "report", "—",     "日本",     "mixture", "experts",
      "token", "layer", "routing", "gate",   "balance",  "loss",   "step",  "model",    "train",   "value"};
  constexpr size_t kN = sizeof(kWords) / sizeof(kWords[0]);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 12345;
  auto next = [&x]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::string out;
  int in_line = 0;
  while (out.size() < bytes) {
    out += kWords[next() % kN];
    const uint64_t r = next() % 16;
    if (++in_line >= 12 && r < 4) {
      out += ".\n";
      in_line = 0;
    } else if (r == 0) {
      out += ", ";
    } else if (r == 1) {
      out += ". ";
    } else {
      out += ' ';
    }
  }
  out += '\n';
  return out;
}

// Writes `text` to dir/name and returns the path.
inline std::string write_text(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string p = dir.file(name);
  write_file_atomic(p, text);
  return p;
}

}  // namespace moescope::testing
