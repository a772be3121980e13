// regex.h: the regular expressions of Hugging Face tokenizer.json files (Split patterns,
// Replace patterns), matched the way the JavaScript reference matches them: ECMAScript syntax
// with the "gu" flags, over code points, leftmost match, ordered alternation, backtracking.
//
// Supported: literals and escapes (\r \n \t \f \v \0 \xHH \uHHHH \u{H..} and escaped
// punctuation), classes [...] / [^...] with ranges, \s \S \d \D \w \W, \p{..} / \P{..} of
// general categories (L, Lu, Letter, ...), '.', groups (...) (?:...) and (?i:...) (ASCII case
// folding, as the reference rewrites it), lookahead (?=...) (?!...), ^ and $, quantifiers
// * + ? {m} {m,} {m,n} (greedy or lazy) on single characters, and ? on groups. Anything else
// is refused with std::invalid_argument naming the construct and its offset in the pattern.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace moescope {

class HfRegex {
 public:
  // `pattern` is UTF-8. Throws std::invalid_argument on syntax this engine does not support.
  explicit HfRegex(const std::string& pattern);
  ~HfRegex();
  HfRegex(HfRegex&&) noexcept;
  HfRegex& operator=(HfRegex&&) noexcept;

  // Every match of a global search over cps[0, n) (String.prototype.matchAll with the g
  // flag), as [begin, end) code point index pairs in order; empty matches included (after one
  // the search moves on by one code point).
  void find_all(const uint32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>* out) const;

  // The end of a match starting exactly at `pos`, or -1.
  long match_at(const uint32_t* cps, size_t n, size_t pos) const;

  const std::string& pattern() const { return pattern_; }

  struct Impl;

 private:
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

// A regex source that matches `literal` exactly (every character escaped).
std::string regex_escape(const std::string& literal);

}  // namespace moescope
