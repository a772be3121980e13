// grad_buckets.h: the data-parallel gradient all-reduce overlapped with backward.
// The parameters are cut into buckets once, at construction, deterministically: in reverse
// registration order (backward reaches the last layers first), consecutive parameters of one
// dtype up to bucket_bytes (a larger one is a bucket of its own). A post-hook on each
// parameter's gradient accumulator (the AccumulateGrad node: it runs once per backward, after
// the gradient is summed into .grad) counts the bucket's parameters done; during an armed
// backward (the step's last micro-batch), bucket i is flattened and its sum all-reduce started
// (Group::all_reduce_sum_async, Gloo's own threads) as soon as it and every bucket before it
// are done, so every rank starts the same collectives in the same order while backward goes on.
// finish(), after backward: the buckets not started (a parameter that got no gradient in this
// backward: an undefined gradient counts as zeros and becomes defined) are started in order,
// then every bucket is waited for, multiplied by `scale` (1/W: Gloo has no AVG) and copied back
// into the gradients. The result is the one of dist::all_reduce_mean (the same sums; only
// the bucket boundaries differ). The hooks are removed by the destructor.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/process_group.h"

namespace moescope::dist {

constexpr int64_t kOverlapBucketBytes = 4 << 20;

class GradBuckets {
 public:
  GradBuckets(Group& g, std::vector<at::Tensor> params, double scale, int64_t bucket_bytes = kOverlapBucketBytes);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  void arm();     // the next backward is the step's last: start buckets as they complete
  void finish();  // after it: start the rest, wait for all, scale, copy back; disarms
  int64_t n_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Buckets started from inside the last armed backward (the overlapped ones).
  int64_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t pending = 0;         // parameters not done yet in this backward
    at::Tensor flat;
    std::unique_ptr<Group::Pending> work;
  };
  void on_grad_ready(size_t param);
  void start(size_t bucket);
  Group& g_;
  std::vector<at::Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<std::shared_ptr<void>> accumulators_;  // keeps the AccumulateGrad nodes (and hooks) alive
  std::vector<uintptr_t> hook_keys_;
  double scale_;
  bool armed_ = false;
  size_t next_ = 0;  // the first bucket not started
  int64_t started_in_backward_ = 0;
};

}  // namespace moescope::dist
