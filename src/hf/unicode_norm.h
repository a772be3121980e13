// unicode_norm.h: UTF-8 <-> code points the way the WHATWG TextDecoder does it (invalid bytes
// become U+FFFD, one per maximal invalid subpart), and Unicode NFC normalisation.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moescope {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes UTF-8 into code points, replacing each maximal invalid subpart with U+FFFD (the
// WHATWG "utf-8 decode without BOM" algorithm). When `offsets` is non-null it receives the byte
// offset of each code point plus a final entry text.size().
void utf8_to_code_points(std::string_view text, std::vector<uint32_t>* cps, std::vector<uint32_t>* offsets = nullptr);

// `text` with every invalid UTF-8 subpart replaced by U+FFFD (returns text unchanged when valid).
std::string utf8_sanitise(std::string_view text);
bool utf8_is_valid(std::string_view text);

std::string code_points_to_utf8(const uint32_t* cps, size_t n);

// Unicode Normalization Form C of valid UTF-8 text.
std::string nfc(std::string_view text);

// JavaScript's \s (WhiteSpace and LineTerminator): what String.prototype.trim() strips.
bool is_js_space(uint32_t cp);

}  // namespace moescope
