// unicode_norm.cpp: WHATWG-style UTF-8 decoding and NFC (canonical decomposition, canonical
// ordering, canonical composition; Hangul syllables algorithmically). See unicode_norm.h.
#include "hf/unicode_norm.h"

#include <algorithm>

#include "core/utf8.h"
#include "hf/unicode_tables.h"

namespace moescope {
namespace {

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// One step of the WHATWG decoder at p[0, n), n >= 1: returns bytes consumed, sets *cp.
size_t decode_step(const unsigned char* p, size_t n, uint32_t* cp) {
  const unsigned char b = p[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t need;
  uint32_t v;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
    v = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    v = b & 0x0F;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    v = b & 0x07;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *cp = kReplacementChar;
    return 1;
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (i >= n || p[i] < lo || p[i] > hi) {
      *cp = kReplacementChar;  // the maximal subpart p[0, i) is one error
      return i;
    }
    v = v << 6 | (p[i] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *cp = v;
  return i;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  uint32_t d[2];
  const int k = canonical_decomposition(cp, d);
  if (k == 0) {
    out.push_back(cp);
    return;
  }
  decompose(d[0], out);
  if (k == 2) decompose(d[1], out);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  return canonical_composition(a, b);
}

}  // namespace

void utf8_to_code_points(std::string_view text, std::vector<uint32_t>* cps, std::vector<uint32_t>* offsets) {
  cps->clear();
  if (offsets) offsets->clear();
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    const size_t used = p[i] < 0x80 ? (cp = p[i], 1) : decode_step(p + i, n - i, &cp);
    cps->push_back(cp);
    if (offsets) offsets->push_back(static_cast<uint32_t>(i));
    i += used;
  }
  if (offsets) offsets->push_back(static_cast<uint32_t>(n));
}

bool utf8_is_valid(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    const size_t used = decode_step(p + i, n - i, &cp);
    if (cp == kReplacementChar && !(used == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] == 0xBD)) return false;
    i += used;
  }
  return true;
}

std::string utf8_sanitise(std::string_view text) {
  if (utf8_is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    const size_t used = decode_step(p + i, text.size() - i, &cp);
    utf8_append(out, cp);
    i += used;
  }
  return out;
}

std::string code_points_to_utf8(const uint32_t* cps, size_t n) {
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) utf8_append(out, cps[i]);
  return out;
}

std::string nfc(std::string_view text) {
  // Quick check: every code point below U+0300 is NFC (no combining marks, no decomposable
  // character that would not recompose), which covers Latin-1 text.
  bool simple = true;
  for (unsigned char c : text)
    if (c >= 0xCC) {  // lead bytes of U+0300 and above
      simple = false;
      break;
    }
  if (simple) return std::string(text);

  std::vector<uint32_t> cps, d;
  utf8_to_code_points(text, &cps);
  d.reserve(cps.size() + 8);
  for (uint32_t cp : cps) decompose(cp, d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (canonical_combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && canonical_combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](uint32_t a, uint32_t b) {
      return canonical_combining_class(a) < canonical_combining_class(b);
    });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(d.size());
  long starter = -1;
  int last_cc = 0;
  for (uint32_t c : d) {
    const int cc = canonical_combining_class(c);
    if (starter >= 0) {
      const bool adjacent = out.size() - 1 == static_cast<size_t>(starter);
      if (adjacent || (last_cc != 0 && last_cc < cc)) {
        const uint32_t composite = compose_pair(out[starter], c);
        if (composite) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<long>(out.size());
    last_cc = cc;
    out.push_back(c);
  }
  return code_points_to_utf8(out.data(), out.size());
}

bool is_js_space(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13);
  return cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF || general_category(cp) == UCat::Zs;
}

}  // namespace moescope
