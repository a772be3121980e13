// data_test_util.h: helpers for the data pipeline tests (scratch directories, environment
// overrides, generated corpora, error-message checks).
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

namespace moescope::testing {

// A fresh directory under the system temp dir, removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "moescope-data-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Sets (or, with nullopt, unsets) an environment variable; restores the old value on destruction.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
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
      "the",   "a",     "of",      "and",    "to",      "in",     "river",  "mountain", "quick", "brown",
      "fox",   "jumps", "over",    "lazy",   "dog",     "café",   "naïve",  "résumé",   "über",  "smörgåsbord",
      "city",  "jury",  "said",    "Friday", "election", "report", "—",      "日本",     "mixture", "experts",
      "token", "layer", "routing", "gate",   "balance", "loss",   "step",   "model",    "train",   "value"};
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

// Runs `fn`, expecting an exception of type E whose message contains every needle.
template <class E, class Fn>
void expect_error(Fn fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error mentioning '" << *needles.begin() << "'";
  } catch (const E& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what() << "\nwanted: " << n;
  }
}

}  // namespace moescope::testing
