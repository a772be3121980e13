// expert_shards.h: the memory side of expert parallelism (train.expert_parallel = P > 1).
// Rank p of an EP group keeps only its own routed experts, [p E/P, (p+1) E/P) of every MoE layer
// (model/expert_parallel.h's expert_shard): their weights, gradients and AdamW moments. Every
// other expert's weight is released to an empty [0, cols] tensor (its moments too, and it never
// gets a gradient); attention, norms, routers and shared experts stay replicated.
//
// Who reduces what (average_gradients): replicated gradients are averaged over the world as in
// plain data parallelism; an owned expert's gradient (already the sum over its EP group's tokens,
// brought back by the all-to-all) is summed over its replicas, the ranks at the same position p
// of the other EP groups (the `replicas` group; none when P = W), then divided by W: the same
// value the unsharded mean over all W ranks gave (there, non-owners contributed zeros).
// clip_grad_norm: the global norm = replicated norm and every expert once (sum of squares over
// the EP group).
//
// Full copies on demand (gather): where code needs every expert (evaluation, the microscope's
// probe, gradient norms and remediation, checkpoints, the start-of-run broadcast), the owners
// broadcast their experts within the EP group (dist::broadcast_all, one MoE layer and owner at a
// time); with root >= 0 only that EP rank keeps them (the others receive into temporaries), a
// slot already full keeps its own value (rank 0's remediation changes survive). release() drops
// them again. So the steady state of a training step holds 1/P of the experts; the transient
// peak inside such a window is the unsharded one for the kinds gathered.
#pragma once
#include <cstdint>
#include <vector>

#include "dist/process_group.h"
#include "model/transformer.h"
#include "train/adamw.h"

namespace moescope {

class ExpertShards {
 public:
  enum Kind : unsigned { kWeights = 1, kGrads = 2, kMoments = 4 };
  // `model` still holds every expert (as built or loaded); the non-owned ones are released at
  // once. `replicas`: null when there is one EP group (P = W). Build the optimizer afterwards
  // and attach() it.
  ExpertShards(Transformer& model, dist::Group& ep, dist::Group* replicas, int world_size);
  void attach(AdamW& opt);

  // Full-size zeros for the non-owned slots of `kinds` (e.g. to load a checkpoint into).
  void allocate(unsigned kinds);
  // Full copies from the owners (see above); a collective of the EP group.
  void gather(unsigned kinds, int root = -1);
  // Every non-owned slot back to empty (weights [0, cols], no gradient, moments [0, cols]).
  void release();

  // Replicated gradients averaged over the world, owned experts' over their replicas / W.
  void average_gradients(dist::Group& world);
  // The parts of it, for the overlapped all-reduce (dist/grad_buckets.h): the replicated
  // parameters (averaged over the world), the owned experts' (over replicas(), scale 1 / W),
  // and without replicas (P = W) the owned experts' gradients divided by W here.
  const std::vector<at::Tensor>& replicated_params() const { return replicated_; }
  std::vector<at::Tensor> owned_params() const;
  dist::Group* replicas() const { return replicas_; }
  void scale_owned_grads();
  // Gradient clipping by the global norm (as torch::nn::utils::clip_grad_norm_); returns it.
  double clip_grad_norm(double max_norm);

  int64_t first() const { return first_; }  // this rank's experts [first, first + count) per layer
  int64_t count() const { return count_; }
  // Bytes this rank holds now for the routed experts: weights, gradients, AdamW moments.
  struct Bytes {
    int64_t weights = 0, grads = 0, moments = 0;
  };
  Bytes expert_bytes() const;

 private:
  struct Slot {
    int64_t layer = 0, expert = 0;
    bool owned = false;
    at::Tensor param, m, v;      // m, v: the optimizer's moment tensors (same TensorImpl)
    std::vector<int64_t> shape;  // the full shape
    unsigned full = 0;           // kinds currently full here (non-owned slots)
  };
  at::Tensor& grad_of(Slot& s);
  Transformer model_;
  dist::Group& ep_;
  dist::Group* replicas_;
  int world_size_;
  int64_t first_ = 0, count_ = 0, per_ = 0;
  std::vector<Slot> slots_;
  std::vector<at::Tensor> replicated_;  // every other parameter that trains
};

// Every expert's `kinds` on this rank (root < 0) or on EP rank `root` alone, for the life of the
// object (gather, then release); nothing when `s` is null (no expert parallelism).
class FullExperts {
 public:
  FullExperts(ExpertShards* s, unsigned kinds, int root = -1) : s_(s) {
    if (s_) s_->gather(kinds, root);
  }
  ~FullExperts() {
    if (s_) s_->release();
  }
  FullExperts(const FullExperts&) = delete;
  FullExperts& operator=(const FullExperts&) = delete;

 private:
  ExpertShards* s_;
};

}  // namespace moescope
