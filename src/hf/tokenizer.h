// tokenizer.h: Hugging Face tokenizer.json tokenizers (DeepSeek-V3, Qwen3, OLMoE byte-level
// BPE; Llama-2 / Mixtral SentencePiece-style BPE with byte fallback), matching the JavaScript
// reference implementation (@lenml/tokenizers, a fork of transformers.js) id for id.
//
// Encoding: invalid UTF-8 becomes U+FFFD (as TextDecoder does); the text is cut at added
// tokens (longest match first, lstrip/rstrip honoured); each other section is normalised
// (normalizer.h), pre-tokenised (pretokenizer.h) and encoded by the BPE model
// (bpe.h). encode() adds no special tokens; encode_with_special() adds BOS/EOS as
// tokenizer_config.json says (add_bos_token / add_eos_token with bos_token / eos_token), or,
// where it does not, as the post_processor's TemplateProcessing does. decode() runs the
// decoder chain (decoder.h) and clean_up_tokenization_spaces when the config asks for it.
//
// Files: PATH is a tokenizer.json or a directory holding one; tokenizer_config.json next to
// it is read when present. fingerprint() hashes both files' bytes, so token caches keyed on
// it re-tokenise when either file changes. save(dir) copies both files into dir.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class HfBpe;
class HfNormalizer;
class HfPreTokenizer;
class HfDecoder;

// Not a data/tokenizer.h Tokenizer: hf/ sits under data (data/hf_bridge.h adapts it), so the
// same encode/decode/save/fingerprint calls are plain members here.
class HfTokenizer {
 public:
  // Throws std::runtime_error naming the file and the problem (missing file, invalid or
  // truncated JSON, unsupported model / normalizer / pre-tokenizer / decoder type, a merges
  // entry naming a missing token, ...).
  static std::unique_ptr<HfTokenizer> load(const std::string& path);
  // From file contents; `config_text` may be empty (no tokenizer_config.json). `name` labels
  // error messages.
  static std::unique_ptr<HfTokenizer> from_text(const std::string& tokenizer_json, const std::string& config_text,
                                                const std::string& name);
  // `parsed` is tokenizer_json already parsed (load_tokenizer has parsed it to detect the format).
  static std::unique_ptr<HfTokenizer> from_parsed(const nlohmann::json& parsed, const std::string& tokenizer_json,
                                                  const std::string& config_text, const std::string& name);
  ~HfTokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  std::vector<int32_t> encode_with_special(std::string_view text) const;
  // Throws std::invalid_argument on an id outside [0, vocab_size).
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const;
  // Copies tokenizer.json (and tokenizer_config.json when there was one) into dir.
  void save(const std::string& dir) const;
  // 16 hex digits over both files' bytes.
  const std::string& fingerprint() const { return fingerprint_; }

  std::optional<int32_t> token_to_id(const std::string& token) const;
  const std::string* id_to_token(int32_t id) const;
  std::optional<int32_t> bos_id() const { return bos_; }
  std::optional<int32_t> eos_id() const { return eos_; }

 private:
  HfTokenizer();
  void encode_text(const std::string& text, std::vector<int32_t>* out) const;

  std::string json_text_, config_text_, fingerprint_;
  std::unique_ptr<HfBpe> model_;
  std::unique_ptr<HfNormalizer> normalizer_;
  std::unique_ptr<HfPreTokenizer> pre_tokenizer_;
  std::unique_ptr<HfDecoder> decoder_;
  struct Added {
    std::string content;
    int32_t id;
    bool lstrip, rstrip;
  };
  std::vector<Added> added_;
  std::unordered_set<std::string> added_contents_, special_tokens_;
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> kids;
    int32_t added = -1;  // index into added_
  };
  std::vector<TrieNode> trie_;
  std::optional<int32_t> bos_, eos_;
  bool clean_up_spaces_ = true;
  bool llama_non_legacy_ = false;
};

}  // namespace moescope
