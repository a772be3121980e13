// unicode_tables.h: Unicode character data for the Hugging Face tokenizer: general categories
// (for the split regexes' \p{..} classes), canonical combining classes, canonical decompositions
// and NFC compositions. The data is generated (scripts/gen_unicode_tables.py ->
// unicode_tables_data.cpp); lookups here are O(1) after a one-time table build.
#pragma once
#include <cstddef>
#include <cstdint>

namespace moescope {

// General categories, in the generator's order (Cn = 0: unassigned, and anything > U+10FFFF).
enum class UCat : uint8_t {
  Cn,
  Lu,
  Ll,
  Lt,
  Lm,
  Lo,
  Mn,
  Mc,
  Me,
  Nd,
  Nl,
  No,
  Pc,
  Pd,
  Ps,
  Pe,
  Pi,
  Pf,
  Po,
  Sm,
  Sc,
  Sk,
  So,
  Zs,
  Zl,
  Zp,
  Cc,
  Cf,
  Cs,
  Co,
};
constexpr int kUCatCount = 30;

// Bit (1u << category) set: masks for the one-letter groups (\p{L}, \p{N}, ...).
constexpr uint32_t ucat_bit(UCat c) { return 1u << static_cast<uint8_t>(c); }
uint32_t ucat_group_mask(char group);  // 'L','M','N','P','S','Z','C'; 0 for any other letter
// Mask for a category or group name as regexes write it ("L", "Lu", "Letter"...); 0 if unknown.
uint32_t ucat_mask_by_name(const char* name, size_t len);

UCat general_category(uint32_t cp);
uint8_t canonical_combining_class(uint32_t cp);

// Canonical single-level decomposition of cp (Hangul excluded): returns the number of code
// points written to out[0..1] (1 or 2), or 0 when cp has none.
int canonical_decomposition(uint32_t cp, uint32_t out[2]);
// The NFC primary composite of (a, b), or 0 when they do not compose (Hangul excluded).
uint32_t canonical_composition(uint32_t a, uint32_t b);

const char* unicode_category_version();       // Unicode version of the category data
const char* unicode_normalisation_version();  // Unicode version of the normalisation data

namespace unicode_data {
struct Triple {
  uint32_t a, b, c;
};
extern const char* const kCategoryUnicodeVersion;
extern const char* const kNormalisationUnicodeVersion;
extern const uint32_t kCategoryRuns[];
extern const size_t kCategoryRunCount;
extern const uint32_t kCccRuns[];
extern const size_t kCccRunCount;
extern const Triple kDecompositions[];
extern const size_t kDecompositionCount;
extern const Triple kCompositions[];
extern const size_t kCompositionCount;
}  // namespace unicode_data

}  // namespace moescope
