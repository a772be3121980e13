// utf8.h: strict UTF-8, one code point at a time (the char tokenizer, corpus checks, the
// Hugging Face tokenizer export). The WHATWG-style decoding the Hugging Face tokenizer needs
// (maximal invalid subparts -> U+FFFD) is hf/unicode_norm.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace moescope {

// Decodes one UTF-8 sequence at the start of p[0, n) (n >= 1). Returns the bytes consumed
// (1 for an invalid sequence) and sets *cp to the code point, or to kInvalidCodePoint for
// invalid input (bad lead/continuation byte, overlong form, surrogate, > U+10FFFF, cut off).
constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFFu;
size_t utf8_decode_one(const char* p, size_t n, uint32_t* cp);
void utf8_append(std::string& out, uint32_t cp);

}  // namespace moescope
