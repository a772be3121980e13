// crc32c_test.cpp: CRC-32C against published vectors, incremental use, and the TFRecord mask.
#include "io/crc32c.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace moescope;

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) inc[i] = uint8_t(i), dec[i] = uint8_t(31 - i);
  // RFC 3720 (iSCSI) B.4 test vectors.
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(dec.data(), 32), 0x113FDB5Cu);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32c, IncrementalEqualsOneShot) {
  std::string s;
  for (int i = 0; i < 1000; ++i) s += char(i * 7 + 3);
  const uint32_t whole = crc32c(s.data(), s.size());
  for (size_t cut : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(13), size_t(500), s.size()}) {
    uint32_t c = crc32c(s.data(), cut);
    c = crc32c(s.data() + cut, s.size() - cut, c);
    EXPECT_EQ(c, whole) << "cut at " << cut;
  }
  // Unaligned starts give the same answer as a byte-by-byte chain.
  uint32_t c = 0;
  for (size_t i = 0; i < s.size(); ++i) c = crc32c(s.data() + i, 1, c);
  EXPECT_EQ(c, whole);
}

TEST(Crc32c, MaskedMatchesTensorFlowDefinition) {
  const uint32_t c = crc32c("123456789", 9);
  EXPECT_EQ(c, 0xE3069283u);
  EXPECT_EQ(masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
  EXPECT_EQ(masked_crc32c("123456789", 9), 0xC78AB0E5u);  // rotr(0xE3069283, 15) + 0xa282ead8
}

// A bit-at-a-time reference, independent of the table-driven implementation.
static uint32_t crc32c_bitwise(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST(Crc32c, MatchesBitwiseReferenceOnAllLengths) {
  std::string s;
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) s += char((x = x * 1103515245u + 12345u) >> 24);
  for (size_t n = 0; n <= s.size(); n += 1 + n / 16)
    for (size_t off : {size_t(0), size_t(3)}) {
      if (off + n <= s.size()) {
        EXPECT_EQ(crc32c(s.data() + off, n), crc32c_bitwise(s.substr(off, n))) << n;
      }
    }
}
