// utf8_test.cpp: strict UTF-8 decoding and encoding of one code point (core/utf8.h).
#include "core/utf8.h"

#include <string>

#include <gtest/gtest.h>

using namespace moescope;

TEST(Utf8, DecodesValidAndRejectsInvalidSequences) {
  uint32_t cp;
  EXPECT_EQ(utf8_decode_one("\xC3\xA9", 2, &cp), 2u);
  EXPECT_EQ(cp, 0xE9u);
  EXPECT_EQ(utf8_decode_one("\xF0\x9F\x8E\x89", 4, &cp), 4u);
  EXPECT_EQ(cp, 0x1F389u);
  for (std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\x80", "\xFF", "\xE6\x97"}) {
    EXPECT_EQ(utf8_decode_one(bad.data(), bad.size(), &cp), 1u) << bad;
    EXPECT_EQ(cp, kInvalidCodePoint);
  }
  std::string out;
  for (uint32_t c : {0x41u, 0xE9u, 0x65E5u, 0x1F389u}) utf8_append(out, c);
  EXPECT_EQ(out, "A\xC3\xA9\xE6\x97\xA5\xF0\x9F\x8E\x89");
}
