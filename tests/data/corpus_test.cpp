// corpus_test.cpp: default corpus path, UTF-8 validation, and load_corpus's refusals.
#include "data/corpus.h"

#include <sys/stat.h>

#include "data_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::make_corpus;
using moescope::testing::ScopedEnv;
using moescope::testing::TempDir;
using moescope::testing::write_text;

TEST(Corpus, DefaultPathIsRepoDataOrEnvironment) {
  {
    ScopedEnv env("MOESCOPE_CORPUS", std::nullopt);
    EXPECT_EQ(default_corpus_path(), std::string(MOESCOPE_SOURCE_DIR) + "/data/brown.txt");
    EXPECT_EQ(resolve_corpus_path(""), default_corpus_path());
    EXPECT_EQ(resolve_corpus_path("/x/y.txt"), "/x/y.txt");
    EXPECT_NE(corpus_missing_hint(default_corpus_path()).find("bash scripts/setup.sh"), std::string::npos);
    EXPECT_EQ(corpus_missing_hint("/x/y.txt"), "");
  }
  {
    ScopedEnv env("MOESCOPE_CORPUS", std::string(""));
    EXPECT_EQ(default_corpus_path(), std::string(MOESCOPE_SOURCE_DIR) + "/data/brown.txt");
  }
  ScopedEnv env("MOESCOPE_CORPUS", std::string("/somewhere/else.txt"));
  EXPECT_EQ(default_corpus_path(), "/somewhere/else.txt");
  EXPECT_EQ(resolve_corpus_path(""), "/somewhere/else.txt");
  EXPECT_NE(corpus_missing_hint("/somewhere/else.txt").find("$MOESCOPE_CORPUS"), std::string::npos);
}

TEST(Corpus, FindInvalidUtf8) {
  EXPECT_EQ(find_invalid_utf8(""), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii\n"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("café 日本 😀"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xff"), 2u);            // bad lead byte
  EXPECT_EQ(find_invalid_utf8("abc\x80xyz"), 3u);        // stray continuation byte
  EXPECT_EQ(find_invalid_utf8("x\xc0\xaf"), 1u);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("é\xed\xa0\x80"), 2u);     // UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("ok\xe6\x97"), 2u);        // cut off at the end
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
}

TEST(Corpus, LoadsValidText) {
  TempDir dir;
  const std::string text = make_corpus(5000);
  const std::string p = write_text(dir, "c.txt", text);
  EXPECT_EQ(load_corpus(p), text);
  // The minimum size is a parameter.
  const std::string small = write_text(dir, "s.txt", "tiny but fine\n");
  EXPECT_EQ(load_corpus(small, 10), "tiny but fine\n");
}

TEST(Corpus, MissingFileNamesPathAndHint) {
  TempDir dir;
  const std::string p = dir.file("nope.txt");
  expect_error<std::runtime_error>([&] { load_corpus(p); }, {p, "file not found"});
  ScopedEnv env("MOESCOPE_CORPUS", p);
  expect_error<std::runtime_error>([&] { load_corpus(default_corpus_path()); }, {p, "not found", "$MOESCOPE_CORPUS"});
}

TEST(Corpus, DirectoryIsRefused) {
  TempDir dir;
  expect_error<std::runtime_error>([&] { load_corpus(dir.path()); }, {dir.path(), "is a directory"});
}

// --data naming a FIFO with no writer used to block forever, /dev/zero to read until bad_alloc.
TEST(Corpus, FifoAndDevicesAreRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.file("pipe.txt");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error<std::runtime_error>([&] { load_corpus(fifo); }, {fifo, "not a regular file"});
  expect_error<std::runtime_error>([&] { load_corpus("/dev/zero"); }, {"/dev/zero", "not a regular file"});
}

TEST(Corpus, EmptyFileIsRefused) {
  TempDir dir;
  const std::string p = write_text(dir, "empty.txt", "");
  expect_error<std::runtime_error>([&] { load_corpus(p); }, {p, "empty"});
}

TEST(Corpus, InvalidUtf8ReportsOffset) {
  TempDir dir;
  std::string text = make_corpus(3000);
  text.resize(2000);
  // Cut back to a character boundary, then put a Latin-1 byte at a known offset.
  while ((static_cast<unsigned char>(text.back()) & 0xC0) == 0x80 || static_cast<unsigned char>(text.back()) >= 0xC0)
    text.pop_back();
  const size_t bad = text.size();
  text += "caf\xe9 au lait\n";
  const std::string p = write_text(dir, "latin1.txt", text);
  expect_error<std::runtime_error>([&] { load_corpus(p); },
                                   {p, "not valid UTF-8", "byte offset " + std::to_string(bad + 3)});
}

TEST(Corpus, TooSmallIsRefused) {
  TempDir dir;
  const std::string p = write_text(dir, "small.txt", std::string(999, 'a'));
  expect_error<std::runtime_error>([&] { load_corpus(p); }, {p, "too small", "999 bytes", "at least 1000"});
  EXPECT_EQ(load_corpus(p, 999).size(), 999u);
  EXPECT_EQ(load_corpus(write_text(dir, "ok.txt", std::string(1000, 'a'))).size(), 1000u);
}
