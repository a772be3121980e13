// hf_bridge.h: data's Tokenizer interface and the Hugging Face tokenizer of hf/, both ways.
// hf/ sits under data (it knows nothing of Tokenizer), so the factory (data/tokenizer.h) wraps
// an HfTokenizer in HfTokenizerAdapter, and a char or byte tokenizer is translated into a
// tokenizer.json through hf/tokenizer_export.h here.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/tokenizer.h"
#include "hf/tokenizer.h"

namespace moescope {

// A Hugging Face tokenizer.json tokenizer as a Tokenizer of kind "hf" (every call forwarded).
class HfTokenizerAdapter : public Tokenizer {
 public:
  explicit HfTokenizerAdapter(std::unique_ptr<const HfTokenizer> hf);

  std::vector<int32_t> encode(std::string_view text) const override { return hf_->encode(text); }
  std::string decode(const std::vector<int32_t>& ids) const override { return hf_->decode(ids); }
  int64_t vocab_size() const override { return hf_->vocab_size(); }
  std::string kind() const override { return "hf"; }
  void save(const std::string& dir) const override { hf_->save(dir); }
  std::string fingerprint() const override { return hf_->fingerprint(); }
  const HfTokenizer& hf() const { return *hf_; }

 private:
  std::unique_ptr<const HfTokenizer> hf_;
};

// The Hugging Face tokenizer behind `tok`, or nullptr when it is another kind.
const HfTokenizer* as_hf_tokenizer(const Tokenizer& tok);

// A char or byte tokenizer as a Hugging Face tokenizer.json (hf/tokenizer_export.h), or nullopt
// with *why set (bpe; a char vocabulary holding U+FFFD itself).
std::optional<nlohmann::json> hf_tokenizer_json(const Tokenizer& tok, std::string* why);

}  // namespace moescope
