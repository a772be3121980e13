// token_file.h: the on-disk, memory-mapped cache of a tokenised corpus.
//
// Layout (little-endian), 64-byte header then the payload:
//   off  0  char[8] magic "MSTOKEN\0"
//   off  8  u32     version (1)
//   off 12  u32     bytes_per_token (2 or 4)
//   off 16  u64     n_tokens
//   off 24  u64     corpus_hash     (caller's cache key, e.g. hash_bytes of the corpus)
//   off 32  u64     tokenizer_hash  (e.g. hash of Tokenizer::fingerprint())
//   off 40  u32     crc32c of the payload
//   off 44  zero padding to 64
//   off 64  payload: n_tokens ids, each u16 or u32
// The file size must be exactly 64 + n_tokens * bytes_per_token.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fnv_hash.h"  // hash_bytes, hex64: the cache keys of the header

namespace moescope {

constexpr size_t kTokenFileHeaderBytes = 64;
constexpr uint32_t kTokenFileVersion = 1;

// Writes atomically (write-to-temp + rename). Uses 2 bytes per token when every id < 65536,
// else 4. Throws std::invalid_argument on a negative id, std::runtime_error on I/O errors.
void write_token_file(const std::string& path, const std::vector<int32_t>& tokens, uint64_t corpus_hash,
                      uint64_t tokenizer_hash);

// A read-only memory mapping of a token file. Move-only; unmaps in the destructor.
class TokenFile {
 public:
  // Maps and validates magic, version, size and (when verify_crc) the payload CRC.
  // Throws std::runtime_error naming the path and the problem; an unsupported version or
  // a damaged file carries a hint to delete the cache file so it is rebuilt.
  static TokenFile open(const std::string& path, bool verify_crc = true);

  TokenFile() = default;
  TokenFile(TokenFile&& o) noexcept;
  TokenFile& operator=(TokenFile&& o) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  ~TokenFile();

  size_t size() const { return n_tokens_; }
  int32_t operator[](size_t i) const {  // unchecked
    const uint8_t* p = payload_ + i * bytes_per_token_;
    return bytes_per_token_ == 2
               ? int32_t(p[0] | p[1] << 8)
               : int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
  }
  int32_t at(size_t i) const;  // bounds-checked, throws std::out_of_range
  uint32_t bytes_per_token() const { return bytes_per_token_; }
  uint64_t corpus_hash() const { return corpus_hash_; }
  uint64_t tokenizer_hash() const { return tokenizer_hash_; }
  const std::string& path() const { return path_; }

 private:
  void unmap() noexcept;
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint8_t* payload_ = nullptr;
  size_t n_tokens_ = 0;
  uint32_t bytes_per_token_ = 2;
  uint64_t corpus_hash_ = 0, tokenizer_hash_ = 0;
};

}  // namespace moescope
