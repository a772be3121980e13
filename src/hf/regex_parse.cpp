// regex_parse.cpp: the parser of the tokenizer regex engine: ECMAScript pattern syntax
// (the subset regex.h lists) -> Program (regex_program.h), plus the first-character
// analysis the matcher uses to skip start positions.
#include <climits>
#include <stdexcept>

#include "hf/regex.h"
#include "hf/regex_program.h"
#include "hf/unicode_norm.h"

namespace moescope::hf_regex {
namespace {

class Parser {
 public:
  Parser(const std::string& src, Program& out) : src_(src), out_(out) { utf8_to_code_points(src, &p_); }

  std::vector<Seq> parse() {
    auto alts = parse_alternation(false);
    if (i_ < p_.size()) fail("unmatched ')'");
    return alts;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("regex /" + src_ + "/: " + what + " at offset " + std::to_string(i_) +
                                " (unsupported or invalid in this engine)");
  }
  bool at(uint32_t c) const { return i_ < p_.size() && p_[i_] == c; }
  bool peek_str(const char* s) const {
    for (size_t k = 0; s[k]; ++k)
      if (i_ + k >= p_.size() || p_[i_ + k] != static_cast<unsigned char>(s[k])) return false;
    return true;
  }

  std::vector<Seq> parse_alternation(bool icase) {
    std::vector<Seq> alts(1);
    while (i_ < p_.size() && !at(')')) {
      if (at('|')) {
        ++i_;
        alts.emplace_back();
        continue;
      }
      parse_atom(alts.back(), icase);
    }
    return alts;
  }

  int add_set(CharSet cs, bool icase) {
    cs.finalise(icase);
    out_.sets.push_back(std::move(cs));
    return static_cast<int>(out_.sets.size()) - 1;
  }

  void parse_atom(Seq& seq, bool icase) {
    Node n;
    const uint32_t c = p_[i_];
    if (c == '(') {
      ++i_;
      bool inner_icase = icase;
      n.kind = Kind::Group;
      if (peek_str("?:")) {
        i_ += 2;
      } else if (peek_str("?i:")) {
        i_ += 3;
        inner_icase = true;
      } else if (peek_str("?=") || peek_str("?!")) {
        n.kind = Kind::Look;
        n.negative = p_[i_ + 1] == '!';
        i_ += 2;
      } else if (at('?')) {
        fail("group syntax '(?" + (i_ + 1 < p_.size() ? code_points_to_utf8(&p_[i_ + 1], 1) : std::string()) + "'");
      }
      n.alts = parse_alternation(inner_icase);
      if (!at(')')) fail("missing ')'");
      ++i_;
    } else if (c == '[') {
      n.set = parse_class(icase);
    } else if (c == '\\') {
      ++i_;
      CharSet cs;
      if (!parse_escape(cs, /*in_class=*/false)) fail("escape");
      n.set = add_set(std::move(cs), icase);
    } else if (c == '.') {
      ++i_;
      CharSet cs;
      cs.negated = true;
      cs.ranges = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};
      n.set = add_set(std::move(cs), false);
    } else if (c == '^' || c == '$') {
      ++i_;
      n.kind = c == '^' ? Kind::Start : Kind::End;
    } else if (c == ')' || c == '*' || c == '+' || c == '?' || c == '{' || c == '}' || c == ']') {
      fail(std::string("unexpected '") + char(c) + "'");
    } else {
      ++i_;
      CharSet cs;
      cs.ranges.push_back({c, c});
      n.set = add_set(std::move(cs), icase);
    }
    parse_quantifier(n);
    seq.push_back(std::move(n));
  }

  void parse_quantifier(Node& n) {
    if (i_ >= p_.size()) return;
    size_t mn, mx;
    const uint32_t c = p_[i_];
    if (c == '*') mn = 0, mx = SIZE_MAX, ++i_;
    else if (c == '+') mn = 1, mx = SIZE_MAX, ++i_;
    else if (c == '?') mn = 0, mx = 1, ++i_;
    else if (c == '{') {
      ++i_;
      auto number = [&]() {
        if (i_ >= p_.size() || p_[i_] < '0' || p_[i_] > '9') fail("bad {m,n} quantifier");
        size_t v = 0;
        while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') v = v * 10 + (p_[i_++] - '0');
        return v;
      };
      mn = mx = number();
      if (at(',')) {
        ++i_;
        mx = at('}') ? SIZE_MAX : number();
      }
      if (!at('}') || mx < mn) fail("bad {m,n} quantifier");
      ++i_;
    } else {
      return;
    }
    const bool lazy = at('?');
    if (lazy) ++i_;
    if (n.kind == Kind::Group && !(mn == 0 && mx == 1 && !lazy)) fail("quantifier on a group (only '?' is)");
    if (n.kind != Kind::Set && n.kind != Kind::Group) fail("quantifier on an assertion");
    n.min = mn;
    n.max = mx;
    n.greedy = !lazy;
  }

  uint32_t hex(size_t digits) {
    uint32_t v = 0;
    for (size_t k = 0; k < digits; ++k, ++i_) {
      if (i_ >= p_.size()) fail("truncated hex escape");
      const uint32_t d = p_[i_];
      if (d >= '0' && d <= '9') v = v * 16 + (d - '0');
      else if ((d | 32) >= 'a' && (d | 32) <= 'f') v = v * 16 + ((d | 32) - 'a' + 10);
      else fail("bad hex escape");
    }
    return v;
  }

  // Parses the escape after '\' into cs. Returns true; *single (when non-null) receives the
  // code point for a single-character escape, or stays UINT32_MAX for a class escape.
  bool parse_escape(CharSet& cs, bool in_class, uint32_t* single = nullptr) {
    if (i_ >= p_.size()) fail("trailing backslash");
    const uint32_t c = p_[i_++];
    auto one = [&](uint32_t cp) {
      cs.ranges.push_back({cp, cp});
      if (single) *single = cp;
      return true;
    };
    auto cls = [&](CharSet sub, bool complement) {
      sub.finalise(false);
      if (complement) cs.complements.push_back(std::move(sub));
      else cs.ranges.insert(cs.ranges.end(), sub.ranges.begin(), sub.ranges.end()), cs.cat_mask |= sub.cat_mask;
      return true;
    };
    switch (c) {
      case 'n': return one('\n');
      case 'r': return one('\r');
      case 't': return one('\t');
      case 'f': return one('\f');
      case 'v': return one('\v');
      case '0':
        if (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') fail("octal escape");
        return one(0);
      case 'x': return one(hex(2));
      case 'u': {
        if (at('{')) {
          ++i_;
          uint32_t v = 0;
          size_t digits = 0;
          while (i_ < p_.size() && !at('}')) {
            v = v * 16 + hex(1);
            if (++digits > 6) fail("bad \\u{...} escape");
          }
          if (!at('}') || digits == 0 || v > 0x10FFFF) fail("bad \\u{...} escape");
          ++i_;
          return one(v);
        }
        uint32_t v = hex(4);
        if (v >= 0xD800 && v < 0xDC00 && peek_str("\\u")) {
          const size_t save = i_;
          i_ += 2;
          const uint32_t lo = hex(4);
          if (lo >= 0xDC00 && lo < 0xE000) return one(0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
          i_ = save;
        }
        return one(v);
      }
      case 'd':
      case 'D': {
        CharSet s;
        s.ranges.push_back({'0', '9'});
        return cls(std::move(s), c == 'D');
      }
      case 'w':
      case 'W': {
        CharSet s;
        s.ranges = {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}, {'_', '_'}};
        return cls(std::move(s), c == 'W');
      }
      case 's':
      case 'S': {
        CharSet s;
        s.ranges = {{9, 13}, {' ', ' '}, {0x2028, 0x2029}, {0xFEFF, 0xFEFF}};
        s.cat_mask = ucat_bit(UCat::Zs);
        return cls(std::move(s), c == 'S');
      }
      case 'p':
      case 'P': {
        if (!at('{')) fail("\\p without {name}");
        const size_t start = ++i_;
        while (i_ < p_.size() && !at('}')) ++i_;
        if (!at('}')) fail("unterminated \\p{");
        std::string name = code_points_to_utf8(&p_[start], i_ - start);
        ++i_;
        for (const char* prefix : {"gc=", "General_Category="})
          if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
        const uint32_t mask = ucat_mask_by_name(name.data(), name.size());
        if (!mask) fail("Unicode property \\p{" + name + "} (only general categories are)");
        CharSet s;
        s.cat_mask = mask;
        return cls(std::move(s), c == 'P');
      }
      case 'b':
        if (in_class) return one(8);
        fail("word boundary \\b");
      default:
        if (c < 128 && ((c | 32) >= 'a' && (c | 32) <= 'z')) fail(std::string("escape \\") + char(c));
        if (c >= '1' && c <= '9') fail("backreference");
        return one(c);  // escaped punctuation (or any other character) stands for itself
    }
  }

  int parse_class(bool icase) {
    ++i_;  // '['
    CharSet cs;
    if (at('^')) cs.negated = true, ++i_;
    while (true) {
      if (i_ >= p_.size()) fail("unterminated character class");
      if (at(']')) {
        ++i_;
        break;
      }
      uint32_t lo = UINT32_MAX;
      if (at('\\')) {
        ++i_;
        parse_escape(cs, /*in_class=*/true, &lo);
      } else {
        lo = p_[i_++];
        cs.ranges.push_back({lo, lo});
      }
      if (at('-') && i_ + 1 < p_.size() && p_[i_ + 1] != ']') {
        ++i_;
        uint32_t hi = UINT32_MAX;
        if (at('\\')) {
          ++i_;
          CharSet tmp;
          parse_escape(tmp, /*in_class=*/true, &hi);
        } else {
          hi = p_[i_++];
        }
        if (lo == UINT32_MAX || hi == UINT32_MAX) fail("class escape in a range");
        if (hi < lo) fail("range out of order");
        cs.ranges.back() = {lo, hi};
      }
    }
    return add_set(std::move(cs), icase);
  }

  const std::string& src_;
  Program& out_;
  std::vector<uint32_t> p_;
  size_t i_ = 0;
};

// First-character analysis: ORs into impl the ASCII characters a match can start with;
// returns whether `alts` can match the empty string.
bool first_chars(Program& im, const std::vector<Seq>& alts) {
  bool any_empty = false;
  for (const Seq& seq : alts) {
    bool empty = true;
    for (const Node& n : seq) {
      if (n.kind == Kind::Set) {
        const CharSet& cs = im.sets[n.set];
        im.first_ascii[0] |= cs.ascii[0];
        im.first_ascii[1] |= cs.ascii[1];
        if (cs.may_contain_non_ascii()) im.first_non_ascii = true;
        if (n.min > 0) {
          empty = false;
          break;
        }
      } else if (n.kind == Kind::Group) {
        if (!first_chars(im, n.alts) && n.min > 0) {
          empty = false;
          break;
        }
      }
    }
    any_empty = any_empty || empty;
  }
  return any_empty;
}

}  // namespace

void compile_regex(const std::string& pattern, Program* out) {
  Parser parser(pattern, *out);
  out->alts = parser.parse();
  out->first_non_ascii = false;
  out->can_be_empty = first_chars(*out, out->alts);
}

}  // namespace moescope::hf_regex
