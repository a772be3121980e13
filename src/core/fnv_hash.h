// fnv_hash.h: FNV-1a 64-bit hashing and its hex form: the cache keys of token files and the
// fingerprints of tokenizers (data/, hf/).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace moescope {

// FNV-1a 64-bit hash, for cache keys (corpus / tokenizer identity). Continue with `seed`.
uint64_t hash_bytes(std::string_view data, uint64_t seed = 0xcbf29ce484222325ull);
// 16 lowercase hex digits of a 64-bit hash (cache file names, tokenizer fingerprints).
std::string hex64(uint64_t v);

}  // namespace moescope
