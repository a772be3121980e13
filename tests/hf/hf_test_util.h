// hf_test_util.h: a small hand-made tokenizer.json (SentencePiece style, Llama-2 format) and
// writing it to a scratch directory, shared by the hf tests and data's bridge tests.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "../io/io_test_util.h"  // TempDir, expect_error

namespace moescope::testing {

using nlohmann::json;

inline const std::string kU = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// A SentencePiece-style (Llama-2 format) tokenizer with a handful of tokens.
inline json spm_tokenizer() {
  return json{{"version", "1.0"},
              {"added_tokens",
               {{{"id", 10}, {"content", "<s>"}, {"special", true}},
                {{"id", 11}, {"content", "[SEP]"}, {"lstrip", true}, {"rstrip", true}, {"special", false}}}},
              {"normalizer",
               {{"type", "Sequence"},
                {"normalizers",
                 {{{"type", "Prepend"}, {"prepend", kU}},
                  {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kU}}}}}},
              {"pre_tokenizer", nullptr},
              {"post_processor", nullptr},
              {"decoder",
               {{"type", "Sequence"},
                {"decoders",
                 {{{"type", "Replace"}, {"pattern", {{"String", kU}}}, {"content", " "}},
                  {{"type", "ByteFallback"}},
                  {{"type", "Fuse"}},
                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
              {"model",
               {{"type", "BPE"},
                {"unk_token", "<unk>"},
                {"byte_fallback", true},
                {"fuse_unk", true},
                {"vocab",
                 {{"<unk>", 0},
                  {"a", 1},
                  {"b", 2},
                  {"ab", 3},
                  {"c", 4},
                  {"abc", 5},
                  {kU, 6},
                  {kU + "ab", 7},
                  {"<0xC3>", 8},
                  {"<0xA9>", 9}}},
                {"merges", {"a b", "ab c", kU + " ab"}}}}};
}

inline std::string write_tokenizer(const TempDir& dir, const json& j, const json& config = nullptr) {
  write_file_atomic(dir.file("tokenizer.json"), j.dump());
  if (!config.is_null()) write_file_atomic(dir.file("tokenizer_config.json"), config.dump());
  return dir.file("tokenizer.json");
}

}  // namespace moescope::testing
