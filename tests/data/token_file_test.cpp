// token_file_test.cpp: token cache round trips (u16/u32) and refusal of damaged or foreign files.
#include "data/token_file.h"

#include <cstring>

#include "io/atomic_file.h"
#include "../io/io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;

TEST(TokenFile, HashBytesIsFnv1a64) {
  EXPECT_EQ(hash_bytes(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(hash_bytes("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(hash_bytes("foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(hash_bytes("bar", hash_bytes("foo")), hash_bytes("foobar"));
}

TEST(TokenFile, RoundTripU16) {
  TempDir dir;
  std::vector<int32_t> toks;
  for (int i = 0; i < 10000; ++i) toks.push_back((i * 7919) % 65536);
  write_token_file(dir.file("c.tok"), toks, 111, 222);
  EXPECT_EQ(read_file(dir.file("c.tok")).size(), kTokenFileHeaderBytes + toks.size() * 2);
  TokenFile f = TokenFile::open(dir.file("c.tok"));
  EXPECT_EQ(f.bytes_per_token(), 2u);
  ASSERT_EQ(f.size(), toks.size());
  for (size_t i = 0; i < toks.size(); ++i) ASSERT_EQ(f[i], toks[i]) << i;
  EXPECT_EQ(f.corpus_hash(), 111u);
  EXPECT_EQ(f.tokenizer_hash(), 222u);
  EXPECT_THROW(f.at(toks.size()), std::out_of_range);
}

TEST(TokenFile, RoundTripU32AndMove) {
  TempDir dir;
  std::vector<int32_t> toks = {0, 65535, 65536, 100000, 2147483647, 5};
  write_token_file(dir.file("c.tok"), toks, ~0ull, 1);
  TokenFile f = TokenFile::open(dir.file("c.tok"));
  EXPECT_EQ(f.bytes_per_token(), 4u);
  TokenFile g = std::move(f);
  EXPECT_EQ(f.size(), 0u);
  ASSERT_EQ(g.size(), toks.size());
  for (size_t i = 0; i < toks.size(); ++i) EXPECT_EQ(g[i], toks[i]);
  EXPECT_EQ(g.corpus_hash(), ~0ull);
}

TEST(TokenFile, EmptyFileAndNegativeIds) {
  TempDir dir;
  write_token_file(dir.file("e.tok"), {}, 1, 2);
  EXPECT_EQ(TokenFile::open(dir.file("e.tok")).size(), 0u);
  expect_error<std::invalid_argument>(
      [&] {
        write_token_file(dir.file("n.tok"), {1, -3}, 0, 0);
      },
      {"n.tok", "negative token id -3"});
}

TEST(TokenFile, DamagedFilesAreRefused) {
  TempDir dir;
  const std::string path = dir.file("c.tok");
  write_token_file(path, {1, 2, 3, 4, 5, 6, 7, 8}, 9, 9);
  const std::string good = read_file(path);
  auto open_bad = [&](const std::string& bytes) {
    write_file_atomic(path, bytes);
    TokenFile::open(path);
  };
  for (size_t len : {size_t(0), size_t(40), size_t(64), good.size() - 1})
    expect_error<std::runtime_error>([&] { open_bad(good.substr(0, len)); }, {path, "truncated"});
  expect_error<std::runtime_error>([&] { open_bad(good + "xy"); }, {path, "trailing bytes"});

  std::string bad_magic = good;
  bad_magic[0] = 'X';
  expect_error<std::runtime_error>([&] { open_bad(bad_magic); }, {path, "bad magic", "delete this cache file"});

  std::string v2 = good;
  v2[8] = 2;
  expect_error<std::runtime_error>([&] { open_bad(v2); }, {path, "unsupported version 2", "delete this cache file"});

  std::string flipped = good;
  flipped[kTokenFileHeaderBytes + 3] ^= 1;
  expect_error<std::runtime_error>([&] { open_bad(flipped); }, {path, "checksum"});
  write_file_atomic(path, flipped);
  EXPECT_EQ(TokenFile::open(path, /*verify_crc=*/false).size(), 8u);

  expect_error<std::runtime_error>([&] { TokenFile::open(dir.file("absent.tok")); }, {"absent.tok", "cannot open"});
}
