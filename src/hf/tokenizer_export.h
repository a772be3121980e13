// tokenizer_export.h: a moescope char or byte tokenizer as a Hugging Face tokenizer.json that
// the `tokenizers` library (and transformers' AutoTokenizer) encodes and decodes identically
// (`moescope export`, tests/python/test_hf_export.py):
//   char  BPE model without merges, no pre-tokenizer: every code point is one token; its id is
//         moescope's (1.. in code point order), an unknown code point is unk_token U+FFFD = id 0
//         (fuse_unk off: one id 0 per unknown character, as moescope); decoder Fuse.
//   byte  ByteLevel pre-tokenizer (no regex, no prefix space) + BPE without merges over the 256
//         byte symbols, id = byte value; decoder ByteLevel.
// No BOS/EOS and no normaliser (moescope adds none). A bpe (SentencePiece) tokenizer has no such
// translation here: its merges are not recorded in the model file, so it is not written.
// Plain inputs (hf/ sits under data): data/hf_bridge.h picks the function for a Tokenizer.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope {

// The char tokenizer of vocabulary `code_points` (ids 1.., sorted) as a tokenizer.json, or
// nullopt with *why set when the vocabulary holds U+FFFD itself (it would collide with the
// unknown token).
std::optional<nlohmann::json> char_tokenizer_json(const std::vector<uint32_t>& code_points, std::string* why);
// The byte tokenizer (id = byte value) as a tokenizer.json.
nlohmann::json byte_tokenizer_json();

}  // namespace moescope
