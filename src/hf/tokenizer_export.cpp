// tokenizer_export.cpp: see tokenizer_export.h.
#include "hf/tokenizer_export.h"

#include <algorithm>

#include "core/utf8.h"

namespace moescope {
namespace {

using nlohmann::json;

json bpe_model(json vocab, json unk) {
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", unk},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", std::move(vocab)},
          {"merges", json::array()}};
}

json skeleton() {
  return {{"version", "1.0"},      {"truncation", nullptr},    {"padding", nullptr}, {"added_tokens", json::array()},
          {"normalizer", nullptr}, {"post_processor", nullptr}};
}

std::string utf8(uint32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

}  // namespace

std::optional<json> char_tokenizer_json(const std::vector<uint32_t>& cps, std::string* why) {
  constexpr uint32_t kReplacement = 0xFFFD;  // moescope decodes the unknown id 0 as U+FFFD
  if (std::find(cps.begin(), cps.end(), kReplacement) != cps.end()) {
    *why = "the char vocabulary holds U+FFFD, which is also the unknown character's text";
    return std::nullopt;
  }
  json vocab = json::object();
  vocab[utf8(kReplacement)] = 0;
  for (size_t i = 0; i < cps.size(); ++i) vocab[utf8(cps[i])] = static_cast<int64_t>(i + 1);
  json j = skeleton();
  j["pre_tokenizer"] = nullptr;
  j["decoder"] = {{"type", "Fuse"}};
  j["model"] = bpe_model(std::move(vocab), utf8(kReplacement));
  return j;
}

json byte_tokenizer_json() {
  // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for U+0100...
  json vocab = json::object();
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    vocab[utf8(printable ? b : next++)] = static_cast<int64_t>(b);
  }
  const json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  json j = skeleton();
  j["pre_tokenizer"] = byte_level;
  j["decoder"] = byte_level;
  j["model"] = bpe_model(std::move(vocab), nullptr);
  return j;
}

}  // namespace moescope
