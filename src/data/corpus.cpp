// corpus.cpp: default corpus path, UTF-8 validation and checked corpus loading (see corpus.h).
#include "data/corpus.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "io/atomic_file.h"
#include "data/tokenizer.h"
#include "core/utf8.h"

#ifndef MOESCOPE_SOURCE_DIR
#error "MOESCOPE_SOURCE_DIR must be defined (the repository root)"
#endif

namespace moescope {
namespace {

namespace fs = std::filesystem;

const char* env_corpus() {
  const char* v = std::getenv("MOESCOPE_CORPUS");
  return v && *v ? v : nullptr;
}

}  // namespace

std::string corpus_missing_hint(const std::string& path) {
  if (path != default_corpus_path()) return "";
  if (env_corpus()) return " (the corpus named by $MOESCOPE_CORPUS)";
  return " (the default corpus: run `bash scripts/setup.sh` to prepare it, or set data.path)";
}

std::string default_corpus_path() {
  if (const char* v = env_corpus()) return v;
  return std::string(MOESCOPE_SOURCE_DIR) + "/data/brown.txt";
}

std::string resolve_corpus_path(const std::string& configured) {
  return configured.empty() ? default_corpus_path() : configured;
}

size_t find_invalid_utf8(std::string_view text) {
  const char* p = text.data();
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (static_cast<unsigned char>(p[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    size_t used = utf8_decode_one(p + i, n - i, &cp);
    if (cp == kInvalidCodePoint) return i;
    i += used;
  }
  return std::string_view::npos;
}

std::string load_corpus(const std::string& path, size_t min_bytes) {
  auto fail = [&](const std::string& what) { return std::runtime_error("corpus '" + path + "': " + what); };
  if (path.empty()) throw std::runtime_error("corpus: empty path");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw fail("file not found" + corpus_missing_hint(path));
  if (fs::is_directory(st)) throw fail("is a directory, not a text file");
  // A FIFO, device or socket could block the read or never end (/dev/zero).
  if (!fs::is_regular_file(st)) throw fail("is not a regular file (a FIFO, device or socket); give a text file");
  std::string text = read_file(path);
  if (text.empty()) throw fail("file is empty");
  const size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos)
    throw fail("not valid UTF-8: invalid byte sequence at byte offset " + std::to_string(bad));
  if (text.size() < min_bytes)
    throw fail("too small to train on: " + std::to_string(text.size()) + " bytes (need at least " +
               std::to_string(min_bytes) + ")");
  return text;
}

}  // namespace moescope
