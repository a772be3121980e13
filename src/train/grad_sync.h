// grad_sync.h: a training step's gradient synchronisation over the data-parallel ranks
// (docs/distributed.md). After finish() every rank holds the same gradients (under expert
// parallelism: of the parameters it holds), the mean over ranks:
//   - train.overlap_grad_sync = true: the all-reduce of the replicated parameters runs in
//     buckets during the step's last backward (dist/grad_buckets.h) on a group of its own, so
//     no other collective can interleave with its buckets; under EP x DP the owned experts'
//     gradients are bucketed the same way on their replicas' group;
//   - false: one blocking average after backward (DataParallel / ExpertShards).
// In a single-process run every call is a no-op.
#pragma once
#include <memory>

#include "dist/grad_buckets.h"
#include "dist/process_group.h"
#include "model/transformer.h"
#include "train/data_parallel.h"
#include "train/expert_shards.h"

namespace moescope {

class GradientSync {
 public:
  // `shards`: this rank's experts under EP (null without EP; its replicas() group, when EP x DP,
  // reduces the owned experts). dp's group and `shards` outlive this object.
  GradientSync(const DataParallel& dp, Transformer& model, ExpertShards* shards, bool overlap);
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  void arm();     // the next backward is the step's last: its buckets start as they complete
  void finish();  // after it: every rank holds the averaged gradients
  // The group the overlapped all-reduce runs on (its time in collectives is counted apart),
  // null when not overlapping.
  dist::Group* group() const { return group_.get(); }

 private:
  const DataParallel& dp_;
  Transformer model_;
  ExpertShards* shards_;
  std::unique_ptr<dist::Group> group_;
  std::unique_ptr<dist::GradBuckets> buckets_, expert_buckets_;
};

}  // namespace moescope
