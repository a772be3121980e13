// collectives.h: many-tensor collectives over a Group, flattened into buckets.
//   all_reduce_mean: each bucket (tensors of one dtype and device, in order, up to
//     bucket_bytes; a larger tensor is a bucket of its own) is copied into one flat buffer,
//     summed across ranks, divided by the world size (Gloo has no AVG) and copied back. Used for
//     gradients after backward (not overlapped with it).
//   broadcast_all: the same bucketing, broadcast from `root` into every tensor in place.
// All ranks must pass tensors of the same shapes and dtypes in the same order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dist/process_group.h"

namespace moescope::dist {

constexpr int64_t kDefaultBucketBytes = 8 << 20;

void all_reduce_mean(Group& g, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = kDefaultBucketBytes);
// The same buckets, summed across ranks and multiplied by `scale` (expert gradients: the sum
// over an expert's replicas divided by the whole world size, train/expert_shards.h).
void all_reduce_sum_scaled(Group& g, const std::vector<at::Tensor>& tensors, double scale,
                           int64_t bucket_bytes = kDefaultBucketBytes);
void broadcast_all(Group& g, const std::vector<at::Tensor>& tensors, int root,
                   int64_t bucket_bytes = kDefaultBucketBytes);
// A string from `root` (its length first); other ranks' `s` is replaced.
void broadcast_string(Group& g, std::string& s, int root);

}  // namespace moescope::dist

namespace moescope::dist {

// While one is alive (the trainer's step: forwards and backward), a balance loss whose
// definition needs statistics of the whole global batch (the switch loss's f_i) sums them over
// the world group (router.cpp). Outside, and in a single-process run, group() is null.
class GlobalBatchScope {
 public:
  explicit GlobalBatchScope(Group* g);
  ~GlobalBatchScope();
  GlobalBatchScope(const GlobalBatchScope&) = delete;
  GlobalBatchScope& operator=(const GlobalBatchScope&) = delete;
  static Group* group();

 private:
  Group* prev_;
};

// While one is alive (the trainer's step under train.expert_parallel), a training forward of a
// MoE layer sends its tokens to the ranks that own their experts (model/expert_parallel.h).
class ExpertParallelScope {
 public:
  explicit ExpertParallelScope(Group* g);
  ~ExpertParallelScope();
  ExpertParallelScope(const ExpertParallelScope&) = delete;
  ExpertParallelScope& operator=(const ExpertParallelScope&) = delete;
  static Group* group();

 private:
  Group* prev_;
};

}  // namespace moescope::dist
