// tokenizer_test.cpp: byte and char tokenizers, tokenizer.json save/load.
#include "data/tokenizer.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "../io/io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;

TEST(ByteTokenizer, RoundTripsArbitraryBytes) {
  ByteTokenizer t;
  std::string s;
  for (int i = 0; i < 256; ++i) s += char(i);
  s += std::string("\0\xff\x80 tail", 9);
  auto ids = t.encode(s);
  ASSERT_EQ(ids.size(), s.size());
  EXPECT_EQ(ids[255], 255);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(t.decode(ids), s);
  EXPECT_EQ(t.vocab_size(), 256);
  expect_error<std::invalid_argument>([&] { t.decode({65, 256}); }, {"id 256"});
}

TEST(CharTokenizer, VocabularyIsSortedCodePointsWithUnknownZero) {
  CharTokenizer t = CharTokenizer::from_corpus("banana\xC3\xA9");  // b a n é
  EXPECT_EQ(t.code_points(), (std::vector<uint32_t>{'a', 'b', 'n', 0xE9}));
  EXPECT_EQ(t.vocab_size(), 5);
  EXPECT_EQ(t.encode("ab\xC3\xA9n"), (std::vector<int32_t>{1, 2, 4, 3}));
  EXPECT_EQ(t.encode("z"), std::vector<int32_t>{0});
  EXPECT_EQ(t.decode({0}), "\xEF\xBF\xBD");
  expect_error<std::invalid_argument>([&] { t.decode({5}); }, {"char tokenizer", "id 5"});
}

TEST(CharTokenizer, RoundTripsMultiByteText) {
  const std::string text = "Grüße, 世界! naïve café — 🎉🎉\n\ttabs & \"quotes\"";
  CharTokenizer t = CharTokenizer::from_corpus(text);
  auto ids = t.encode(text);
  EXPECT_EQ(ids.size(), 43u);  // code points, not bytes
  for (int32_t id : ids) EXPECT_GT(id, 0);
  EXPECT_EQ(t.decode(ids), text);
}

TEST(CharTokenizer, InvalidUtf8IsUnknownAndNeverCrashes) {
  const std::string corpus = std::string("ok\xFF\xFE\xC3") + "x\xE6\x97";  // stray and cut-off bytes
  CharTokenizer t = CharTokenizer::from_corpus(corpus);
  EXPECT_EQ(t.code_points(), (std::vector<uint32_t>{'k', 'o', 'x'}));
  auto ids = t.encode(corpus);
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 1, 0, 0, 0, 3, 0, 0}));
  EXPECT_EQ(t.decode(ids), "ok\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Tokenizer, SaveLoadPreservesEncodingAndFingerprint) {
  TempDir dir;
  const std::string corpus = "the quick brown fox — 日本語 jumps";
  write_file_atomic(dir.file("corpus.txt"), corpus);
  for (std::string kind : {"byte", "char"}) {
    auto t = build_tokenizer(kind, dir.file("corpus.txt"), 0, dir.file("work"));
    EXPECT_EQ(t->kind(), kind);
    t->save(dir.file("tok-" + kind));
    auto u = load_tokenizer(dir.file("tok-" + kind));
    EXPECT_EQ(u->kind(), kind);
    EXPECT_EQ(u->vocab_size(), t->vocab_size());
    EXPECT_EQ(u->fingerprint(), t->fingerprint());
    EXPECT_EQ(u->encode(corpus + "?"), t->encode(corpus + "?"));
    auto j = nlohmann::json::parse(read_file(dir.file("tok-" + kind + "/tokenizer.json")));
    EXPECT_EQ(j["version"], 1);
  }
}

TEST(Tokenizer, FingerprintsDifferBetweenVocabularies) {
  ByteTokenizer b;
  CharTokenizer c1 = CharTokenizer::from_corpus("abc"), c2 = CharTokenizer::from_corpus("abd");
  CharTokenizer c3 = CharTokenizer::from_corpus("cba");
  EXPECT_EQ(b.fingerprint().size(), 16u);
  EXPECT_NE(b.fingerprint(), c1.fingerprint());
  EXPECT_NE(c1.fingerprint(), c2.fingerprint());
  EXPECT_EQ(c1.fingerprint(), c3.fingerprint());  // same vocabulary
  EXPECT_EQ(b.fingerprint(), ByteTokenizer().fingerprint());
}

TEST(Tokenizer, LoadRejectsBadFilesNamingThem) {
  TempDir dir;
  const std::string json_path = dir.file("t/tokenizer.json");
  CharTokenizer::from_corpus("abc").save(dir.file("t"));
  const auto good = nlohmann::json::parse(read_file(json_path));
  auto with = [&](const char* key, nlohmann::json v) {
    auto j = good;
    j[key] = v;
    write_file_atomic(json_path, j.dump());
  };
  with("version", 2);
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("t")); },
                                   {json_path, "unsupported tokenizer.json version 2"});
  with("kind", "wordpiece");
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("t")); },
                                   {json_path, "unknown tokenizer kind 'wordpiece'"});
  with("code_points", nlohmann::json::array({97, 98}));
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("t")); }, {json_path, "does not match"});
  write_file_atomic(json_path, "{\"version\": 1,");
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("t")); }, {json_path, "not valid JSON"});
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("none")); }, {"none/tokenizer.json"});
  expect_error<std::invalid_argument>([&] { build_tokenizer("wordpiece", "", 0, ""); },
                                      {"unknown tokenizer kind 'wordpiece'"});
}

// Tokenizer files must be regular files: a FIFO in their place is refused, not waited on.
TEST(Tokenizer, FifoInPlaceOfATokenizerFileIsRefused) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("tokenizer.json").c_str(), 0600), 0);
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.path()); },
                                   {"tokenizer.json", "FIFO", "not a regular file"});
  expect_error<std::runtime_error>([&] { build_tokenizer("hf:" + dir.file("tokenizer.json"), "", 0, dir.path()); },
                                   {"tokenizer.json", "not a regular file"});
  ASSERT_EQ(::mkfifo(dir.file("corpus.txt").c_str(), 0600), 0);
  expect_error<std::runtime_error>([&] { build_tokenizer("char", dir.file("corpus.txt"), 0, dir.path()); },
                                   {"corpus.txt", "not a regular file"});
}
