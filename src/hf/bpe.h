// bpe.h: the BPE "model" of a tokenizer.json: vocabulary, ranked merges, unknown token,
// byte fallback (<0xXX> tokens) and fuse_unk. Merging follows the JavaScript reference:
// repeatedly apply the lowest-ranked merge, leftmost first. Encoded pieces up to 256 bytes
// are cached (thread-safe).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class HfBpe {
 public:
  // An id may lie at most this far past the vocabulary's size (added tokens follow it).
  static constexpr int64_t kMaxIdGap = 1 << 16;
  // Builds the model from tokenizer.json's "model" object. Throws std::invalid_argument naming
  // the problem: a model type other than BPE, malformed vocab, or a merges entry naming a
  // token (or producing a merged token) that is not in the vocabulary.
  static std::unique_ptr<HfBpe> from_json(const nlohmann::json& model, const std::string& where);

  // Maps `content` to `id` as the reference does for added tokens (overriding the vocabulary).
  void add_token(const std::string& content, int32_t id);

  // Appends the ids of `pieces` (pre-tokenised text) to *out; consecutive unknown tokens are
  // fused when the model asks for it.
  void encode(const std::vector<std::string>& pieces, std::vector<int32_t>* out) const;

  std::optional<int32_t> id_of(const std::string& token) const;
  // The token string of `id`, or nullptr when no token has that id.
  const std::string* token_of(int32_t id) const;
  int64_t size() const { return static_cast<int64_t>(id2tok_.size()); }  // max id + 1
  std::optional<int32_t> unk_id() const { return unk_; }
  const std::string& unk_token() const { return unk_token_; }

 private:
  HfBpe() = default;
  void set_token(const std::string& tok, int32_t id);
  void encode_piece(const std::string& piece, std::vector<int32_t>* out) const;
  int32_t char_id(const std::string& piece, uint32_t cp, size_t b, size_t e) const;

  std::unordered_map<std::string, int32_t> tok2id_;
  std::vector<std::string> id2tok_;
  std::vector<bool> assigned_;
  std::vector<int32_t> bmp_id_;  // code point < 0x10000 -> id of that one-character token, or -1
  struct Merge {
    uint32_t rank;
    int32_t merged;
  };
  // (left id << 32 | right id) -> merge: open addressing, linear probing, power-of-two size.
  class MergeTable {
   public:
    void reserve(size_t n);
    void set(uint64_t key, Merge m);
    const Merge* find(uint64_t key) const;

   private:
    size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are < 2^31, so no key is all ones
    std::vector<uint64_t> keys_;
    std::vector<Merge> vals_;
    int shift_ = 64;
    size_t size_ = 0;
  };
  MergeTable merges_;
  std::optional<int32_t> unk_;
  std::string unk_token_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace moescope
