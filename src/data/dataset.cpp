// dataset.cpp: corpus -> tokenizer -> cached token ids -> split -> batches (see dataset.h).
#include "data/dataset.h"

#include <filesystem>
#include <stdexcept>
#include <utility>

#include "core/clock.h"
#include "data/corpus.h"
#include "data/token_cache.h"

namespace moescope {
namespace {

namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void check_config(const DataConfig& cfg) { cfg.validate(); }

void check_batch_args(const char* fn, int64_t B, int64_t S, const std::vector<int64_t>* in,
                      const std::vector<int64_t>* tg) {
  if (B < 1 || S < 1)
    throw std::invalid_argument(std::string("Dataset::") + fn +
                                ": batch size B and sequence length S must be >= 1 (got B=" + std::to_string(B) +
                                ", S=" + std::to_string(S) + ")");
  if (!in || !tg) throw std::invalid_argument(std::string("Dataset::") + fn + ": null output vector");
}

}  // namespace

uint64_t batch_hash(uint64_t seed, uint64_t index, uint64_t b) {
  return splitmix64(splitmix64(splitmix64(seed) ^ index) ^ b);
}

Dataset::Dataset(Dataset&&) noexcept = default;
Dataset& Dataset::operator=(Dataset&&) noexcept = default;
Dataset::~Dataset() = default;

Dataset Dataset::prepare(const DataConfig& cfg, const std::string& run_dir, std::ostream& log) {
  check_config(cfg);
  if (run_dir.empty()) throw std::invalid_argument("Dataset::prepare: empty run directory");
  const std::string corpus_path = resolve_corpus_path(cfg.path);
  const std::string corpus = load_corpus(corpus_path);
  log << "data: corpus " << corpus_path << " (" << corpus.size() << " bytes)\n";

  const std::string tok_json = (fs::path(run_dir) / "tokenizer.json").string();
  std::unique_ptr<Tokenizer> tok;
  if (fs::exists(tok_json)) {
    tok = load_tokenizer(run_dir);
    log << "data: tokenizer " << tok->kind() << " (vocab " << tok->vocab_size() << ") reused from " << tok_json << "\n";
    if (tok->kind() != cfg.tokenizer.substr(0, cfg.tokenizer.find(':')))
      log << "data: warning: data.tokenizer = " << cfg.tokenizer << " ignored: this run keeps its saved " << tok->kind()
          << " tokenizer\n";
  } else {
    const double t0 = now_s();
    tok = build_tokenizer(cfg.tokenizer, corpus_path, cfg.bpe_vocab_size, run_dir);
    tok->save(run_dir);
    log << "data: built " << tok->kind() << " tokenizer (vocab " << tok->vocab_size() << ") in " << seconds_since(t0)
        << " s, saved to " << tok_json << "\n";
  }
  return open(std::move(tok), corpus_path, corpus, cfg, log);
}

Dataset Dataset::open_for_eval(const std::string& run_dir, const DataConfig& cfg, const std::string& data_override,
                               std::ostream& log) {
  check_config(cfg);
  const std::string tok_json = tokenizer_file(run_dir.empty() ? "." : run_dir);
  if (!fs::exists(tok_json))
    throw std::runtime_error("run directory '" + run_dir + "' has no tokenizer.json (" + tok_json +
                             " not found): not a training run, or its training never started");
  std::unique_ptr<Tokenizer> tok = load_tokenizer(run_dir);
  log << "data: tokenizer " << tok->kind() << " (vocab " << tok->vocab_size() << ") from " << tok_json << "\n";
  const std::string corpus_path = data_override.empty() ? resolve_corpus_path(cfg.path) : data_override;
  const std::string corpus = load_corpus(corpus_path);
  log << "data: corpus " << corpus_path << " (" << corpus.size() << " bytes)\n";
  return open(std::move(tok), corpus_path, corpus, cfg, log);
}

Dataset Dataset::open(std::unique_ptr<Tokenizer> tok, const std::string& corpus_path, const std::string& corpus,
                      const DataConfig& cfg, std::ostream& log) {
  Dataset ds;
  ds.tokenizer_ = std::move(tok);
  ds.corpus_path_ = corpus_path;
  CachedTokens cached = cached_tokens(*ds.tokenizer_, corpus, cfg, log);
  ds.tokens_ = std::move(cached.tokens);
  ds.from_cache_ = cached.from_cache;

  const int64_t n = static_cast<int64_t>(ds.tokens_.size());
  ds.n_val_ = static_cast<int64_t>(static_cast<double>(n) * cfg.val_fraction);
  ds.n_train_ = n - ds.n_val_;
  if (ds.n_val_ < 1 || ds.n_train_ < 1)
    throw std::runtime_error("corpus '" + corpus_path + "': " + std::to_string(n) +
                             " tokens are too few for both a train and a validation split (data.val_fraction = " +
                             std::to_string(cfg.val_fraction) + ")");
  log << "data: " << n << " tokens: train " << ds.n_train_ << ", validation " << ds.n_val_ << "\n";
  return ds;
}

int32_t Dataset::token(int64_t i) const {
  if (i < 0) throw std::out_of_range("Dataset::token: negative index " + std::to_string(i));
  return tokens_.at(static_cast<size_t>(i));
}

void Dataset::train_batch(uint64_t seed, uint64_t index, int64_t B, int64_t S, std::vector<int64_t>* inputs_BS,
                          std::vector<int64_t>* targets_BS) const {
  train_batch_rows(seed, index, 0, B, S, inputs_BS, targets_BS);
}

void Dataset::train_batch_rows(uint64_t seed, uint64_t index, int64_t first_row, int64_t B, int64_t S,
                               std::vector<int64_t>* inputs_BS, std::vector<int64_t>* targets_BS) const {
  check_batch_args("train_batch", B, S, inputs_BS, targets_BS);
  if (first_row < 0)
    throw std::invalid_argument("Dataset::train_batch_rows: negative first row " + std::to_string(first_row));
  if (n_train_ < S + 1)
    throw std::runtime_error("corpus '" + corpus_path_ + "': the train split has " + std::to_string(n_train_) +
                             " tokens, fewer than seq_len + 1 = " + std::to_string(S + 1));
  const uint64_t n_offsets = static_cast<uint64_t>(n_train_ - S);  // starts o with o + S + 1 <= n_train
  inputs_BS->resize(static_cast<size_t>(B * S));
  targets_BS->resize(static_cast<size_t>(B * S));
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t h = batch_hash(seed, index, static_cast<uint64_t>(first_row + b));
    const size_t off = static_cast<size_t>((static_cast<unsigned __int128>(h) * n_offsets) >> 64);
    int64_t* in = inputs_BS->data() + b * S;
    int64_t* tg = targets_BS->data() + b * S;
    for (int64_t s = 0; s < S; ++s) {
      in[s] = tokens_[off + s];
      tg[s] = tokens_[off + s + 1];
    }
  }
}

int64_t Dataset::n_val_windows(int64_t S) const {
  if (S < 1)
    throw std::invalid_argument("Dataset::n_val_windows: sequence length S must be >= 1 (got " + std::to_string(S) +
                                ")");
  return n_val_ >= S + 1 ? (n_val_ - 1) / S : 0;
}

int64_t Dataset::val_batch(int64_t first_window, int64_t B, int64_t S, std::vector<int64_t>* inputs_BS,
                           std::vector<int64_t>* targets_BS) const {
  check_batch_args("val_batch", B, S, inputs_BS, targets_BS);
  if (first_window < 0)
    throw std::invalid_argument("Dataset::val_batch: negative first window " + std::to_string(first_window));
  const int64_t count = std::max<int64_t>(0, std::min(B, n_val_windows(S) - first_window));
  inputs_BS->resize(static_cast<size_t>(count * S));
  targets_BS->resize(static_cast<size_t>(count * S));
  for (int64_t w = 0; w < count; ++w) {
    const size_t off = static_cast<size_t>(n_train_ + (first_window + w) * S);
    int64_t* in = inputs_BS->data() + w * S;
    int64_t* tg = targets_BS->data() + w * S;
    for (int64_t s = 0; s < S; ++s) {
      in[s] = tokens_[off + s];
      tg[s] = tokens_[off + s + 1];
    }
  }
  return count;
}

}  // namespace moescope
