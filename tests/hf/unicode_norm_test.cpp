// unicode_norm_test.cpp: the generated Unicode tables, WHATWG-style UTF-8 decoding and NFC.
#include "hf/unicode_norm.h"

#include "hf/unicode_tables.h"
#include "../io/io_test_util.h"

using namespace moescope;

TEST(UnicodeTables, GeneralCategories) {
  EXPECT_EQ(general_category('A'), UCat::Lu);
  EXPECT_EQ(general_category('a'), UCat::Ll);
  EXPECT_EQ(general_category('0'), UCat::Nd);
  EXPECT_EQ(general_category(' '), UCat::Zs);
  EXPECT_EQ(general_category(0x4E2D), UCat::Lo);
  EXPECT_EQ(general_category(0x1F600), UCat::So);
  EXPECT_EQ(general_category(0x0301), UCat::Mn);
  EXPECT_EQ(general_category(0x3002), UCat::Po);
  EXPECT_EQ(general_category(0xE000), UCat::Co);
  EXPECT_EQ(general_category(0x10FFFF), UCat::Cn);
  EXPECT_EQ(general_category(0x110000), UCat::Cn);
  EXPECT_EQ(canonical_combining_class(0x0301), 230);
  EXPECT_EQ(canonical_combining_class(0x0323), 220);
  EXPECT_EQ(canonical_combining_class('a'), 0);
  EXPECT_STRNE(unicode_category_version(), "");
  EXPECT_STRNE(unicode_normalisation_version(), "");
}

TEST(Utf8Decode, InvalidSubpartsBecomeOneReplacementEach) {
  EXPECT_EQ(utf8_sanitise("a\x80"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf8_sanitise("\xE2\x82 "), "\xEF\xBF\xBD ");                            // truncated 3-byte sequence: one
  EXPECT_EQ(utf8_sanitise("x\xF0\x9F\x98"), "x\xEF\xBF\xBD");                        // cut off at the end: one
  EXPECT_EQ(utf8_sanitise("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong lead: one per byte
  EXPECT_EQ(utf8_sanitise("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: one per byte
  EXPECT_TRUE(utf8_is_valid("ok \xEF\xBF\xBD \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8_is_valid("\xFF"));
  std::vector<uint32_t> cps, offs;
  utf8_to_code_points("a\xC3\xA9\xF0\x9F\x98\x80", &cps, &offs);
  EXPECT_EQ(cps, (std::vector<uint32_t>{'a', 0xE9, 0x1F600}));
  EXPECT_EQ(offs, (std::vector<uint32_t>{0, 1, 3, 7}));
}

TEST(Nfc, ComposesReordersAndExcludes) {
  EXPECT_EQ(nfc("e\xCC\x81"), "\xC3\xA9");                                 // e + U+0301 -> é
  EXPECT_EQ(nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // Hangul L V T -> U+AC01
  EXPECT_EQ(nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");              // U+0958 is a composition exclusion
  EXPECT_EQ(nfc("\xE2\x84\xAB"), "\xC3\x85");                              // U+212B ANGSTROM SIGN -> U+00C5
  EXPECT_EQ(nfc("a\xCC\x87\xCC\xA3"), "\xE1\xBA\xA1\xCC\x87");             // a + 0307 + 0323 -> U+1EA1 U+0307
  EXPECT_EQ(nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(nfc("\xC3\xA9t\xC3\xA9"), "\xC3\xA9t\xC3\xA9");
}

TEST(JsSpace, MatchesStringTrim) {
  for (uint32_t cp :
       {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0xA0u, 0x1680u, 0x2000u, 0x2028u, 0x2029u, 0x202Fu, 0x3000u, 0xFEFFu})
    EXPECT_TRUE(is_js_space(cp)) << cp;
  for (uint32_t cp : {0x85u, 0x200Bu, uint32_t('a'), 0x180Eu}) EXPECT_FALSE(is_js_space(cp)) << cp;
}
