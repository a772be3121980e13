// bpe_tokenizer.h: a byte-fallback BPE tokenizer trained and run by SentencePiece
// (through the dlopen'ed plugin of spm_plugin.h, never linked directly).
//
// Training settings (chosen so that decode(encode(s)) == s for valid UTF-8 text):
//   model_type=bpe, byte_fallback=true (characters outside the vocabulary become <0xNN>
//   byte pieces, so any text encodes without unknowns), normalization_rule_name=identity,
//   add_dummy_prefix=false, remove_extra_whitespaces=false, allow_whitespace_only_pieces,
//   split_digits, character_coverage=0.9995, hard_vocab_limit=false (vocab_size is an upper
//   bound; tiny corpora get fewer pieces), no BOS/EOS (id 0 is <unk>, then 256 byte pieces).
//   At most 300k sentences are sampled, so a large corpus trains in seconds.
// The corpus is fed line by line; lines over 4000 bytes are cut at a space (or a UTF-8
// boundary), so a corpus with no newlines still trains.
// Limits of exactness: invalid UTF-8 bytes encode as U+FFFD, and a literal U+2581 ("▁",
// SentencePiece's space marker) decodes as a space.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/tokenizer.h"

namespace moescope {

class BpeTokenizer : public Tokenizer {
 public:
  // Trains on the text file `corpus_path`; scratch files go to a temporary directory under
  // `work_dir` (created if missing, removed afterwards). Throws std::invalid_argument for a
  // vocab_size below 260, std::runtime_error (naming the corpus) when training fails.
  static std::unique_ptr<BpeTokenizer> train(const std::string& corpus_path, int64_t vocab_size,
                                             const std::string& work_dir);
  // Loads a serialized SentencePiece model file (tokenizer.model).
  static std::unique_ptr<BpeTokenizer> from_model_file(const std::string& model_path);

  ~BpeTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override;
  std::string kind() const override { return "bpe"; }
  void save(const std::string& dir) const override;
  std::string fingerprint() const override;

 private:
  BpeTokenizer(std::string model, const std::string& where);
  std::string model_;
  void* sp_ = nullptr;  // SentencePieceProcessor inside the plugin (spm_loader.h)
};

}  // namespace moescope
