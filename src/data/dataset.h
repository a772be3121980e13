// dataset.h: the torch-free training data pipeline: corpus -> tokenizer -> cached token ids
// -> train/validation split -> deterministic batches of token windows.
//
// Tokenizer: a run directory owns its tokenizer (run_dir/tokenizer.json, see data/tokenizer.h).
// prepare() builds it from the corpus and saves it there on the first call; every later call
// (a resumed run) loads and reuses the saved one, even when DataConfig::tokenizer now names
// another kind (a warning is logged): the model's embedding rows are tied to its ids.
//
// Token cache: data/token_cache.h (the ids of a corpus under a tokenizer, tokenised once).
//
// Split: of n tokens, the last n_val = floor(n * val_fraction) are the validation split, the
// first n - n_val the train split; both must be non-empty.
//
// Batches are row-major [B, S] int64 ids; targets[b, s] = the token after inputs[b, s].
//   train_batch: B windows of S+1 consecutive train tokens starting at offsets that are a
//     pure function of (seed, index, b) (splitmix64, a counter-based hash), so the same
//     micro-batch index gives the same batch in a resumed run. Windows never reach the
//     validation split.
//   val windows: window w covers validation tokens [w*S, w*S + S] (S+1 tokens); consecutive
//     windows share one token, so every validation token after the first is a target
//     exactly once. n_val_windows(S) = floor((n_val - 1) / S).
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/token_cache.h"
#include "data/token_file.h"
#include "data/tokenizer.h"

namespace moescope {

class Dataset {
 public:
  // Resolves and loads the corpus (cfg.path or default_corpus_path()), loads run_dir's
  // tokenizer or builds one (build_tokenizer(cfg.tokenizer, corpus, cfg.bpe_vocab_size,
  // run_dir)) and saves it into run_dir (created if missing), then maps the cached token ids,
  // tokenising the corpus first on a cache miss. Progress lines go to `log`.
  // Throws std::invalid_argument for a bad config, std::runtime_error (naming the file) for
  // corpus, tokenizer and cache problems, or a corpus too short for both splits.
  static Dataset prepare(const DataConfig& cfg, const std::string& run_dir, std::ostream& log);

  // For evaluation of a trained run: the tokenizer must already be in run_dir (error
  // otherwise); the corpus is data_override if non-empty, else cfg.path or the default.
  static Dataset open_for_eval(const std::string& run_dir, const DataConfig& cfg, const std::string& data_override,
                               std::ostream& log);

  Dataset(Dataset&&) noexcept;
  Dataset& operator=(Dataset&&) noexcept;
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;
  ~Dataset();

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  int64_t vocab_size() const { return tokenizer_->vocab_size(); }
  int64_t train_size() const { return n_train_; }
  int64_t val_size() const { return n_val_; }
  std::string corpus_path() const { return corpus_path_; }
  std::string cache_path() const { return tokens_.path(); }
  bool loaded_from_cache() const { return from_cache_; }
  // Token i of the whole corpus (train split first), bounds-checked.
  int32_t token(int64_t i) const;

  // Fills *inputs_BS and *targets_BS (resized to B*S) with B random train windows (see above).
  // Throws std::invalid_argument for B or S < 1, std::runtime_error when the train split has
  // fewer than S+1 tokens.
  void train_batch(uint64_t seed, uint64_t index, int64_t B, int64_t S, std::vector<int64_t>* inputs_BS,
                   std::vector<int64_t>* targets_BS) const;
  // Rows first_row .. first_row+B-1 of that batch (a data-parallel rank's shard of a global
  // batch): the rows of train_batch(seed, index, first_row + B, ...) from first_row on.
  void train_batch_rows(uint64_t seed, uint64_t index, int64_t first_row, int64_t B, int64_t S,
                        std::vector<int64_t>* inputs_BS, std::vector<int64_t>* targets_BS) const;

  int64_t n_val_windows(int64_t S) const;
  // Fills windows first_window .. first_window+count-1, count = min(B, n_val_windows(S) -
  // first_window) (0 at or past the end); vectors are resized to count*S. Returns count.
  int64_t val_batch(int64_t first_window, int64_t B, int64_t S, std::vector<int64_t>* inputs_BS,
                    std::vector<int64_t>* targets_BS) const;

 private:
  Dataset() = default;
  static Dataset open(std::unique_ptr<Tokenizer> tok, const std::string& corpus_path, const std::string& corpus,
                      const DataConfig& cfg, std::ostream& log);

  std::unique_ptr<Tokenizer> tokenizer_;
  TokenFile tokens_;
  int64_t n_train_ = 0, n_val_ = 0;
  std::string corpus_path_;
  bool from_cache_ = false;
};

// The counter-based hash behind train_batch: splitmix64 of (seed, index, b), mixed in turn.
uint64_t batch_hash(uint64_t seed, uint64_t index, uint64_t b);

}  // namespace moescope
