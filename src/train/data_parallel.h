// data_parallel.h: the trainer's data-parallel synchronisation over the world group
// (dist/process_group.h). Every call is a no-op in a single-process run (group null).
// The rules (docs/distributed.md):
//   - train.batch_size is the global micro-batch; rank r reads rows [r*B/W, (r+1)*B/W) of each
//     global micro-batch (Dataset::train_batch_rows), so the global batch, the data position
//     and the checkpoints are the same at any world size W;
//   - rank 0's weights, buffers (the router bias), router knobs and AdamW moments are
//     broadcast at the start of run() and after any state change rank 0 made (remediation);
//   - gradients are averaged over ranks in buckets after backward, then clipped by the
//     (now global) norm on every rank alike;
//   - the bias update uses the router counts summed over ranks, so every rank applies the same
//     sign update to the same bias: per-rank counts would give per-rank biases that drift apart
//     (each rank would route its tokens differently) with nothing to pull them back;
//   - stop / time-limit / non-finite decisions are agreed (any rank) before anyone acts.
#pragma once
#include <string>

#include "dist/process_group.h"
#include "model/transformer.h"
#include "train/adamw.h"

namespace moescope {

class DataParallel {
 public:
  explicit DataParallel(dist::Group* g = nullptr) : g_(g) {}
  bool active() const { return g_ != nullptr; }
  dist::Group* group() const { return g_; }
  int rank() const { return g_ ? g_->rank() : 0; }
  int world() const { return g_ ? g_->size() : 1; }
  bool root() const { return rank() == 0; }

  // Compares a hash of `config_json` across ranks; throws std::runtime_error naming the ranks
  // whose config differs from rank 0's.
  void check_same_config(const std::string& config_json) const;
  // Throws std::invalid_argument unless batch_size divides evenly over the ranks.
  void check_batch(int64_t batch_size) const;
  // Rank 0's parameters, buffers and router knobs (and, with opt, AdamW moments) on every rank.
  void broadcast_state(Transformer& model, AdamW* opt) const;
  // Gradients averaged over ranks (an undefined gradient counts as zeros and becomes defined).
  void average_gradients(Transformer& model) const;
  // Every MoE layer's pending router counts summed over ranks.
  void sum_router_counts(Transformer& model) const;
  bool any(bool flag) const;    // true on every rank when it is true on some rank
  double mean(double v) const;  // the mean over ranks
  void barrier() const;

 private:
  dist::Group* g_;
};

}  // namespace moescope
