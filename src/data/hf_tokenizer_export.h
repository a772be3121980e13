// hf_tokenizer_export.h: a moescope char or byte tokenizer as a Hugging Face tokenizer.json that
// the `tokenizers` library (and transformers' AutoTokenizer) encodes and decodes identically
// (`moescope export`, tests/python/test_hf_export.py):
//   char  BPE model without merges, no pre-tokenizer: every code point is one token; its id is
//         moescope's (1.. in code point order), an unknown code point is unk_token U+FFFD = id 0
//         (fuse_unk off: one id 0 per unknown character, as moescope); decoder Fuse.
//   byte  ByteLevel pre-tokenizer (no regex, no prefix space) + BPE without merges over the 256
//         byte symbols, id = byte value; decoder ByteLevel.
// No BOS/EOS and no normaliser (moescope adds none). A bpe (SentencePiece) tokenizer has no such
// translation here: its merges are not recorded in the model file, so it is not written.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/tokenizer.h"

namespace moescope {

// The tokenizer.json, or nullopt with *why set (bpe; a char vocabulary holding U+FFFD itself,
// which would collide with the unknown token).
std::optional<nlohmann::json> hf_tokenizer_json(const Tokenizer& tok, std::string* why);

}  // namespace moescope
