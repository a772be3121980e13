// regex.cpp: the matcher of the tokenizer regex engine (see regex.h): ECMAScript
// ("gu") semantics over code points, backtracking with an explicit continuation chain over the
// Program that regex_parse.cpp compiles.
#include "hf/regex.h"

#include <string_view>

#include "hf/regex_program.h"

namespace moescope {

struct HfRegex::Impl : hf_regex::Program {};

namespace {

using hf_regex::CharSet;
using hf_regex::Kind;
using hf_regex::Node;
using hf_regex::Program;
using hf_regex::Seq;

struct Frame {
  const Seq* seq;
  size_t idx;
  const Frame* next;
};

struct Matcher {
  const Program& im;
  const uint32_t* cps;
  size_t n;

  bool run(const Frame* k, size_t pos, size_t* end) const {
    while (k && k->idx >= k->seq->size()) k = k->next;
    if (!k) {
      *end = pos;
      return true;
    }
    const Node& nd = (*k->seq)[k->idx];
    const Frame nx{k->seq, k->idx + 1, k->next};
    switch (nd.kind) {
      case Kind::Set: {
        const CharSet& cs = im.sets[nd.set];
        if (nd.min == 1 && nd.max == 1) return pos < n && cs.contains(cps[pos]) && run(&nx, pos + 1, end);
        size_t c = 0;
        while (c < nd.max && pos + c < n && cs.contains(cps[pos + c])) ++c;
        if (c < nd.min) return false;
        if (nd.greedy) {
          for (size_t i = c;; --i) {
            if (run(&nx, pos + i, end)) return true;
            if (i == nd.min) break;
          }
        } else {
          for (size_t i = nd.min; i <= c; ++i)
            if (run(&nx, pos + i, end)) return true;
        }
        return false;
      }
      case Kind::Group:
        for (const Seq& alt : nd.alts) {
          const Frame f{&alt, 0, &nx};
          if (run(&f, pos, end)) return true;
        }
        return nd.min == 0 && run(&nx, pos, end);
      case Kind::Look: {
        bool found = false;
        size_t e;
        for (const Seq& alt : nd.alts) {
          const Frame f{&alt, 0, nullptr};
          if (run(&f, pos, &e)) {
            found = true;
            break;
          }
        }
        return found != nd.negative && run(&nx, pos, end);
      }
      case Kind::Start: return pos == 0 && run(&nx, pos, end);
      case Kind::End: return pos == n && run(&nx, pos, end);
    }
    return false;
  }

  long at(size_t pos) const {
    for (const Seq& alt : im.alts) {
      const Frame f{&alt, 0, nullptr};
      size_t e;
      if (run(&f, pos, &e)) return static_cast<long>(e);
    }
    return -1;
  }
};

}  // namespace

HfRegex::HfRegex(const std::string& pattern) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  hf_regex::compile_regex(pattern_, impl_.get());
}

HfRegex::~HfRegex() = default;
HfRegex::HfRegex(HfRegex&&) noexcept = default;
HfRegex& HfRegex::operator=(HfRegex&&) noexcept = default;

long HfRegex::match_at(const uint32_t* cps, size_t n, size_t pos) const { return Matcher{*impl_, cps, n}.at(pos); }

void HfRegex::find_all(const uint32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>* out) const {
  out->clear();
  const Matcher m{*impl_, cps, n};
  const Impl& im = *impl_;
  for (size_t pos = 0; pos <= n;) {
    if (!im.can_be_empty) {
      if (pos == n) break;
      const uint32_t c = cps[pos];
      if (c < 128 ? !(im.first_ascii[c >> 6] >> (c & 63) & 1) : !im.first_non_ascii) {
        ++pos;
        continue;
      }
    }
    const long e = m.at(pos);
    if (e < 0) {
      ++pos;
      continue;
    }
    out->emplace_back(static_cast<uint32_t>(pos), static_cast<uint32_t>(e));
    pos = static_cast<size_t>(e) == pos ? pos + 1 : static_cast<size_t>(e);  // after an empty match, move on one
  }
}

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.*+?()[]{}|/-").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace moescope
