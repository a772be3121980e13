// tokenizer.h: text <-> token ids. Three kinds, one interface:
//   byte: vocab 256, id = byte value; decode(encode(s)) == s for any bytes.
//   char: vocab = 1 + the distinct Unicode code points of a corpus, sorted; id 0 is the
//         unknown character (decoded as U+FFFD), ids 1.. follow code point order. Invalid
//         UTF-8 bytes (in the corpus or in text) are unknown, one id 0 per bad byte.
//   bpe:  a SentencePiece BPE model (see bpe_tokenizer.h).
//   hf:   a Hugging Face tokenizer.json (see hf_tokenizer.h); built from "hf:PATH".
//
// On disk a tokenizer is a directory holding tokenizer.json
//   {"version": 1, "kind": "byte"|"char"|"bpe", "vocab_size": N, "fingerprint": "<16 hex>",
//    "code_points": [..] (char only), "model_file": "tokenizer.model" (bpe only)}
// plus tokenizer.model (the serialized SentencePiece model) for bpe. Files are written
// atomically, tokenizer.json last. An hf tokenizer saves its own tokenizer.json (and
// tokenizer_config.json) instead; load_tokenizer tells the two apart (no "kind", a "model").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

constexpr int kTokenizerJsonVersion = 1;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Throws std::invalid_argument on an id outside [0, vocab_size).
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::string kind() const = 0;
  // Writes dir/tokenizer.json (+ dir/tokenizer.model for bpe); creates dir if missing.
  virtual void save(const std::string& dir) const = 0;
  // 16 hex digits: FNV-1a 64 of the kind and the full vocabulary. Equal fingerprints mean
  // equal encodings, so token caches key on it.
  virtual std::string fingerprint() const = 0;
};

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override { return 256; }
  std::string kind() const override { return "byte"; }
  void save(const std::string& dir) const override;
  std::string fingerprint() const override;
};

class CharTokenizer : public Tokenizer {
 public:
  // `code_points`: the vocabulary (ids 1..n); sorted and deduplicated here.
  explicit CharTokenizer(std::vector<uint32_t> code_points);
  static CharTokenizer from_corpus(std::string_view corpus);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override { return int64_t(code_points_.size()) + 1; }
  std::string kind() const override { return "char"; }
  void save(const std::string& dir) const override;
  std::string fingerprint() const override;
  const std::vector<uint32_t>& code_points() const { return code_points_; }

 private:
  std::vector<uint32_t> code_points_;
  int32_t ascii_[128];
  std::unordered_map<uint32_t, int32_t> ids_;  // non-ASCII code point -> id
};

// kind: "byte" | "char" | "bpe" | "hf:PATH". corpus_path is read for char and bpe;
// bpe_vocab_size and work_dir (scratch space for training) are used by bpe only. Throws
// std::invalid_argument on an unknown kind, std::runtime_error when training fails, the
// corpus is unreadable or the hf tokenizer file cannot be loaded.
std::unique_ptr<Tokenizer> build_tokenizer(const std::string& kind, const std::string& corpus_path,
                                           int64_t bpe_vocab_size, const std::string& work_dir);

// A Hugging Face model directory exported from a run with a moescope (non-Hugging Face)
// tokenizer keeps it under this name, which transformers does not look for (export_hf_model),
// next to a tokenizer.json translation for transformers where one exists (char, byte), and a
// bpe tokenizer's SentencePiece model under kMoescopeSpmFile.
constexpr const char* kMoescopeTokenizerFile = "moescope_tokenizer.json";
constexpr const char* kMoescopeSpmFile = "moescope_tokenizer.model";
// The tokenizer file of DIR: DIR/moescope_tokenizer.json when it exists (the tokenizer the
// model was trained with), else DIR/tokenizer.json.
std::string tokenizer_file(const std::string& dir);

// Loads a tokenizer saved with Tokenizer::save, or a Hugging Face tokenizer.json, from
// tokenizer_file(dir). Throws std::runtime_error naming the file on a missing/unparseable
// file, an unsupported version, an unknown kind, or a vocabulary that does not match the
// recorded vocab_size/fingerprint.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// Writes dir/tokenizer.json: `extra` (a JSON object of kind-specific fields) plus version,
// kind, vocab_size and fingerprint. Shared by the implementations' save().
void write_tokenizer_json(const std::string& dir, const Tokenizer& tok, const nlohmann::json& extra);

}  // namespace moescope
