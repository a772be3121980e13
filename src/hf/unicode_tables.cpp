// unicode_tables.cpp: lookups over the generated Unicode data (see unicode_tables.h). The
// category and combining-class runs are expanded once into flat per-code-point arrays; the
// decomposition and composition lists into hash maps.
#include "hf/unicode_tables.h"

#include <cstring>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

namespace moescope {
namespace {

constexpr uint32_t kMaxCp = 0x10FFFF;

struct Tables {
  std::vector<uint8_t> cat, ccc;  // one byte per code point
  std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> decomp;
  std::unordered_map<uint64_t, uint32_t> comp;  // (a << 21 | b) -> composite

  Tables() : cat(kMaxCp + 1, 0), ccc(kMaxCp + 1, 0) {
    using namespace unicode_data;
    for (size_t i = 0; i < kCategoryRunCount; ++i) {
      const uint32_t start = kCategoryRuns[i] >> 5;
      const uint32_t end = i + 1 < kCategoryRunCount ? kCategoryRuns[i + 1] >> 5 : kMaxCp + 1;
      std::memset(cat.data() + start, int(kCategoryRuns[i] & 31), end - start);
    }
    for (size_t i = 0; i < kCccRunCount; ++i) {
      const uint32_t start = kCccRuns[i] >> 8;
      const uint32_t end = i + 1 < kCccRunCount ? kCccRuns[i + 1] >> 8 : kMaxCp + 1;
      std::memset(ccc.data() + start, int(kCccRuns[i] & 255), end - start);
    }
    decomp.reserve(kDecompositionCount);
    for (size_t i = 0; i < kDecompositionCount; ++i)
      decomp.emplace(kDecompositions[i].a, std::make_pair(kDecompositions[i].b, kDecompositions[i].c));
    comp.reserve(kCompositionCount);
    for (size_t i = 0; i < kCompositionCount; ++i)
      comp.emplace(uint64_t(kCompositions[i].a) << 21 | kCompositions[i].b, kCompositions[i].c);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint32_t ucat_group_mask(char group) {
  auto m = [](std::initializer_list<UCat> cs) {
    uint32_t r = 0;
    for (UCat c : cs) r |= ucat_bit(c);
    return r;
  };
  switch (group) {
    case 'L': return m({UCat::Lu, UCat::Ll, UCat::Lt, UCat::Lm, UCat::Lo});
    case 'M': return m({UCat::Mn, UCat::Mc, UCat::Me});
    case 'N': return m({UCat::Nd, UCat::Nl, UCat::No});
    case 'P': return m({UCat::Pc, UCat::Pd, UCat::Ps, UCat::Pe, UCat::Pi, UCat::Pf, UCat::Po});
    case 'S': return m({UCat::Sm, UCat::Sc, UCat::Sk, UCat::So});
    case 'Z': return m({UCat::Zs, UCat::Zl, UCat::Zp});
    case 'C': return m({UCat::Cc, UCat::Cf, UCat::Cs, UCat::Co, UCat::Cn});
    default: return 0;
  }
}

uint32_t ucat_mask_by_name(const char* name, size_t len) {
  static const char* const kShort[kUCatCount] = {"Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd",
                                                 "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm",
                                                 "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"};
  static const std::pair<const char*, char> kLong[] = {{"Letter", 'L'},      {"Mark", 'M'},   {"Number", 'N'},
                                                       {"Punctuation", 'P'}, {"Symbol", 'S'}, {"Separator", 'Z'},
                                                       {"Other", 'C'}};
  const std::string s(name, len);
  if (len == 1) return ucat_group_mask(name[0]);
  for (int i = 0; i < kUCatCount; ++i)
    if (s == kShort[i]) return 1u << i;
  for (const auto& [n, g] : kLong)
    if (s == n) return ucat_group_mask(g);
  return 0;
}

UCat general_category(uint32_t cp) { return cp > kMaxCp ? UCat::Cn : static_cast<UCat>(tables().cat[cp]); }

uint8_t canonical_combining_class(uint32_t cp) { return cp > kMaxCp ? 0 : tables().ccc[cp]; }

int canonical_decomposition(uint32_t cp, uint32_t out[2]) {
  const auto& d = tables().decomp;
  auto it = d.find(cp);
  if (it == d.end()) return 0;
  out[0] = it->second.first;
  out[1] = it->second.second;
  return out[1] ? 2 : 1;
}

uint32_t canonical_composition(uint32_t a, uint32_t b) {
  const auto& c = tables().comp;
  auto it = c.find(uint64_t(a) << 21 | b);
  return it == c.end() ? 0 : it->second;
}

const char* unicode_category_version() { return unicode_data::kCategoryUnicodeVersion; }
const char* unicode_normalisation_version() { return unicode_data::kNormalisationUnicodeVersion; }

}  // namespace moescope
