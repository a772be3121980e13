// grad_sync.cpp: see grad_sync.h.
#include "train/grad_sync.h"

namespace moescope {

GradientSync::GradientSync(const DataParallel& dp, Transformer& model, ExpertShards* shards, bool overlap)
    : dp_(dp), model_(model), shards_(shards) {
  if (!dp_.active() || !overlap) return;
  group_ = dp_.group()->split(0);
  const double inv_w = 1.0 / static_cast<double>(dp_.world());
  std::vector<at::Tensor> ps;
  if (shards_) {
    ps = shards_->replicated_params();
    if (shards_->replicas())
      expert_buckets_ = std::make_unique<dist::GradBuckets>(*shards_->replicas(), shards_->owned_params(), inv_w);
  } else {
    for (auto& p : model_->parameters())
      if (p.requires_grad()) ps.push_back(p);
  }
  buckets_ = std::make_unique<dist::GradBuckets>(*group_, ps, inv_w);
}

void GradientSync::arm() {
  if (buckets_) buckets_->arm();
  if (expert_buckets_) expert_buckets_->arm();
}

void GradientSync::finish() {
  if (!dp_.active()) return;
  if (buckets_) {
    buckets_->finish();
    if (expert_buckets_) expert_buckets_->finish();
    else if (shards_) shards_->scale_owned_grads();  // EP over the whole world: no replicas to sum with
  } else if (shards_) {
    shards_->average_gradients(*dp_.group());
  } else {
    dp_.average_gradients(model_);
  }
}

}  // namespace moescope
