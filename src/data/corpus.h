// corpus.h: locating and loading the training corpus (a UTF-8 text file), torch-free.
//
// The default corpus is the Brown Corpus converted to plain text by
// scripts/prepare_corpus.mjs into <repo>/data/brown.txt (run `bash scripts/setup.sh`);
// the environment variable MOESCOPE_CORPUS, when set and non-empty, replaces that path.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace moescope {

// The smallest corpus load_corpus accepts by default, in bytes.
constexpr size_t kMinCorpusBytes = 1000;

// $MOESCOPE_CORPUS if set and non-empty, else <source dir>/data/brown.txt.
std::string default_corpus_path();

// `configured` (DataConfig::path) if non-empty, else default_corpus_path().
std::string resolve_corpus_path(const std::string& configured);

// The note load_corpus appends to "file not found" for `path`: how to create the default
// corpus (`bash scripts/setup.sh`) or that $MOESCOPE_CORPUS named it; empty for other paths.
std::string corpus_missing_hint(const std::string& path);

// Byte offset of the first invalid UTF-8 sequence in `text`, or std::string_view::npos when
// the whole text is valid (overlong forms, surrogates and cut-off sequences are invalid).
size_t find_invalid_utf8(std::string_view text);

// Reads the whole text file at `path`. Throws std::runtime_error naming the path when it is
// missing (for the default corpus the message says to run `bash scripts/setup.sh`), not a
// regular file, unreadable, empty, not valid UTF-8 (with the byte offset of the first bad
// sequence), or shorter than `min_bytes`.
std::string load_corpus(const std::string& path, size_t min_bytes = kMinCorpusBytes);

}  // namespace moescope
