// json_guard.h: limits checked on JSON text from files before it is parsed.
//
// nlohmann::json parses any nesting depth, but copying, dumping or comparing a value recurses
// once per level, so a line of 100,000 '[' parses and then overflows the stack wherever the
// value is used. Run logs, configs and tokenizer files never nest more than a few levels;
// text nested deeper than kMaxJsonDepth is refused before it is parsed.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace moescope {

inline constexpr size_t kMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count),
// scanning no further than needed to see that it exceeds `stop_after`. Linear, no allocation;
// the text need not be valid JSON.
size_t json_nesting_depth(std::string_view text, size_t stop_after = kMaxJsonDepth);

// "" when `text` nests at most `max_depth` levels, else the reason ("nested deeper than 128
// levels").
std::string json_depth_error(std::string_view text, size_t max_depth = kMaxJsonDepth);

// Parses `text` after the depth check. Throws std::runtime_error "<where>: not valid JSON: ..."
// or "<where>: JSON nested deeper than ... levels"; the parser's message has invalid UTF-8
// bytes replaced (printable_text), so the error is safe to print or to put in JSON.
nlohmann::json parse_json_guarded(std::string_view text, const std::string& where, size_t max_depth = kMaxJsonDepth);

// `text` with every byte that is not part of valid UTF-8, and every control character,
// written as \xNN, cut to at most `max_bytes` (then "..." is appended): for quoting untrusted
// text in messages.
std::string printable_text(std::string_view text, size_t max_bytes = 200);

}  // namespace moescope
