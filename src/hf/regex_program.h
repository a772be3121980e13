// regex_program.h: the compiled form of an HfRegex (internal to regex*.cpp): character
// sets, the pattern tree, and first-character facts; compile_regex() is the parser.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "hf/unicode_tables.h"

namespace moescope::hf_regex {

struct CharSet {
  uint64_t ascii[2] = {0, 0};  // final membership for cp < 128 (negation applied)
  bool negated = false;
  uint32_t cat_mask = 0;                              // categories included
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // code point ranges included
  std::vector<CharSet> complements;                   // included: everything NOT in these

  bool raw(uint32_t cp) const {  // membership before negation, any code point
    if (cat_mask & (1u << static_cast<uint8_t>(general_category(cp)))) return true;
    for (const auto& r : ranges)
      if (cp >= r.first && cp <= r.second) return true;
    for (const auto& c : complements)
      if (!c.contains(cp)) return true;
    return false;
  }
  bool contains(uint32_t cp) const {
    if (cp < 128) return ascii[cp >> 6] >> (cp & 63) & 1;
    return raw(cp) != negated;
  }
  void finalise(bool icase) {
    for (uint32_t cp = 0; cp < 128; ++cp)
      if (raw(cp)) ascii[cp >> 6] |= uint64_t(1) << (cp & 63);
    auto has = [&](uint32_t cp) { return ascii[cp >> 6] >> (cp & 63) & 1; };
    if (icase)
      for (uint32_t c = 'a'; c <= 'z'; ++c)
        if (has(c) || has(c - 32)) {
          ascii[c >> 6] |= uint64_t(1) << (c & 63);
          ascii[(c - 32) >> 6] |= uint64_t(1) << ((c - 32) & 63);
        }
    if (negated) ascii[0] = ~ascii[0], ascii[1] = ~ascii[1];
  }
  bool may_contain_non_ascii() const {
    if (negated || cat_mask || !complements.empty()) return true;
    for (const auto& r : ranges)
      if (r.second >= 128) return true;
    return false;
  }
};

enum class Kind { Set, Group, Look, Start, End };

struct Node;
using Seq = std::vector<Node>;

struct Node {
  Kind kind = Kind::Set;
  int set = -1;
  std::vector<Seq> alts;  // Group, Look
  bool negative = false;  // Look
  size_t min = 1, max = 1;
  bool greedy = true;
};

struct Program {
  std::vector<CharSet> sets;
  std::vector<Seq> alts;
  bool can_be_empty = true;
  uint64_t first_ascii[2] = {0, 0};
  bool first_non_ascii = true;
};

// Parses `pattern` (UTF-8) into *out. Throws std::invalid_argument naming the construct.
void compile_regex(const std::string& pattern, Program* out);

}  // namespace moescope::hf_regex
