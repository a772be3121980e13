// hf_bridge.cpp: see hf_bridge.h.
#include "data/hf_bridge.h"

#include <stdexcept>

#include "hf/tokenizer_export.h"

namespace moescope {

HfTokenizerAdapter::HfTokenizerAdapter(std::unique_ptr<const HfTokenizer> hf) : hf_(std::move(hf)) {
  if (!hf_) throw std::invalid_argument("HfTokenizerAdapter: null tokenizer");
}

const HfTokenizer* as_hf_tokenizer(const Tokenizer& tok) {
  const auto* a = dynamic_cast<const HfTokenizerAdapter*>(&tok);
  return a ? &a->hf() : nullptr;
}

std::optional<nlohmann::json> hf_tokenizer_json(const Tokenizer& tok, std::string* why) {
  if (const auto* c = dynamic_cast<const CharTokenizer*>(&tok)) return char_tokenizer_json(c->code_points(), why);
  if (tok.kind() == "byte") return byte_tokenizer_json();
  *why =
      "a " + tok.kind() + " tokenizer (SentencePiece BPE) has no Hugging Face tokenizer.json translation in moescope";
  return std::nullopt;
}

}  // namespace moescope
