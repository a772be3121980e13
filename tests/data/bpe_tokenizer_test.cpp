// bpe_tokenizer_test.cpp: SentencePiece BPE training on a generated corpus, exact round trips,
// save/load, and training on a corpus without newlines.
#include "data/bpe_tokenizer.h"

#include <chrono>
#include <random>

#include "io/atomic_file.h"
#include "../io/io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;

namespace {

// English-like text: sentences of common words with punctuation and numbers.
std::string make_corpus(size_t bytes, bool newlines, unsigned seed) {
  static const char* words[] = {"the",       "of",      "and",      "to",       "in",    "is",     "that",
                                "model",     "expert",  "router",   "token",    "layer", "train",  "loss",
                                "was",       "with",    "for",      "as",       "on",    "by",     "mixture",
                                "attention", "weights", "gradient", "learning", "rate",  "data",   "small",
                                "large",     "every",   "step",     "value",    "after", "before", "which"};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    int n = 5 + int(rng() % 12);
    for (int i = 0; i < n; ++i) {
      std::string w = words[rng() % (sizeof words / sizeof *words)];
      if (i == 0) w[0] = char(w[0] - 'a' + 'A');
      out += w;
      if (rng() % 17 == 0) out += " " + std::to_string(rng() % 1000);
      out += i + 1 < n ? (rng() % 9 == 0 ? ", " : " ") : ".";
    }
    out += newlines ? (rng() % 4 == 0 ? "\n\n" : "\n") : " ";
  }
  return out;
}

}  // namespace

TEST(BpeTokenizer, TrainsQuicklyAndRoundTrips) {
  TempDir dir;
  const std::string corpus = make_corpus(300000, true, 1);
  write_file_atomic(dir.file("corpus.txt"), corpus);
  auto t0 = std::chrono::steady_clock::now();
  auto tok = build_tokenizer("bpe", dir.file("corpus.txt"), 800, dir.file("work"));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 60.0);
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_GT(tok->vocab_size(), 300);
  EXPECT_LE(tok->vocab_size(), 800);
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"corpus.txt", "work"}));  // scratch removed
  EXPECT_TRUE(std::filesystem::is_empty(dir.file("work")));

  // Merges were learned: common text compresses well below one token per byte.
  const std::string sample = corpus.substr(1000, 20000);
  auto ids = tok->encode(sample);
  EXPECT_LT(ids.size(), sample.size() / 3);
  EXPECT_EQ(tok->decode(ids), sample);

  // Exact round trips, including whitespace runs and characters never seen in training.
  for (std::string s :
       {std::string("The model was small.\n\nEvery  expert,   twice\t!"), std::string("naïve café 日本語 🎉 ~`|{}"),
        std::string(" leading and trailing  "), std::string("line1\r\nline2\n"), std::string("")}) {
    auto v = tok->encode(s);
    for (int32_t id : v) EXPECT_TRUE(id > 0 && id < tok->vocab_size()) << id;  // never <unk>
    EXPECT_EQ(tok->decode(v), s);
  }
  expect_error<std::invalid_argument>([&] { tok->decode({int32_t(tok->vocab_size())}); },
                                      {"bpe tokenizer", "cannot decode id"});

  tok->save(dir.file("saved"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("saved/tokenizer.model")));
  auto loaded = load_tokenizer(dir.file("saved"));
  EXPECT_EQ(loaded->kind(), "bpe");
  EXPECT_EQ(loaded->fingerprint(), tok->fingerprint());
  EXPECT_EQ(loaded->encode(sample), ids);

  EXPECT_NE(tok->fingerprint(), ByteTokenizer().fingerprint());
  EXPECT_NE(tok->fingerprint(), CharTokenizer::from_corpus(corpus).fingerprint());

  write_file_atomic(dir.file("saved/tokenizer.model"), "not a model");
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.file("saved")); }, {"tokenizer.model"});
}

TEST(BpeTokenizer, TrainsOnCorpusWithoutNewlinesAndDiffersByCorpus) {
  TempDir dir;
  write_file_atomic(dir.file("one_line.txt"), make_corpus(60000, false, 2));
  auto a = build_tokenizer("bpe", dir.file("one_line.txt"), 400, dir.file("work"));
  EXPECT_GT(a->vocab_size(), 260);
  const std::string s = "The router was large, 42 experts.";
  EXPECT_EQ(a->decode(a->encode(s)), s);

  write_file_atomic(dir.file("other.txt"), "zzz qqq zzz qqq xyzzy plugh\n" + make_corpus(20000, true, 3));
  auto b = build_tokenizer("bpe", dir.file("other.txt"), 400, dir.file("work"));
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

TEST(BpeTokenizer, RejectsBadArguments) {
  TempDir dir;
  write_file_atomic(dir.file("c.txt"), "hello world\n");
  expect_error<std::invalid_argument>([&] { build_tokenizer("bpe", dir.file("c.txt"), 100, dir.path()); },
                                      {"vocab_size 100"});
  write_file_atomic(dir.file("empty.txt"), "\n\n");
  expect_error<std::runtime_error>([&] { build_tokenizer("bpe", dir.file("empty.txt"), 400, dir.path()); },
                                   {"empty.txt", "no text"});
  expect_error<std::runtime_error>([&] { build_tokenizer("bpe", dir.file("missing.txt"), 400, dir.path()); },
                                   {"missing.txt"});
}
