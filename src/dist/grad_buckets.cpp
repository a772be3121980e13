// grad_buckets.cpp: see grad_buckets.h.
#include "dist/grad_buckets.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

namespace moescope::dist {

GradBuckets::GradBuckets(Group& g, std::vector<at::Tensor> params, double scale, int64_t bucket_bytes)
    : g_(g), params_(std::move(params)), bucket_of_(params_.size()), scale_(scale) {
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const at::Tensor& p = params_[k];
    const int64_t b = p.numel() * static_cast<int64_t>(p.element_size());
    if (buckets_.empty() || bytes + b > bucket_bytes ||
        params_[buckets_.back().params.front()].scalar_type() != p.scalar_type()) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += b;
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    std::shared_ptr<torch::autograd::Node> acc = torch::autograd::impl::grad_accumulator(params_[k]);
    if (!acc)
      throw std::invalid_argument("GradBuckets: parameter " + std::to_string(k) + " is not a leaf that requires grad");
    hook_keys_.push_back(acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, k](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          on_grad_ready(k);
          return outputs;
        })));
    accumulators_.push_back(acc);
  }
}

GradBuckets::~GradBuckets() {
  for (size_t k = 0; k < accumulators_.size(); ++k)
    std::static_pointer_cast<torch::autograd::Node>(accumulators_[k])->del_post_hook(hook_keys_[k]);
}

void GradBuckets::arm() {
  for (auto& b : buckets_) {
    b.pending = static_cast<int64_t>(b.params.size());
    b.work.reset();
    b.flat = at::Tensor();
  }
  next_ = 0;
  started_in_backward_ = 0;
  armed_ = true;
}

void GradBuckets::on_grad_ready(size_t param) {
  if (!armed_) return;
  Bucket& b = buckets_[bucket_of_[param]];
  if (b.work || --b.pending > 0) return;
  while (next_ < buckets_.size() && buckets_[next_].pending <= 0) {
    start(next_++);
    ++started_in_backward_;
  }
}

void GradBuckets::start(size_t i) {
  torch::NoGradGuard ng;
  Bucket& b = buckets_[i];
  std::vector<at::Tensor> flat;
  for (size_t k : b.params) {
    at::Tensor& p = params_[k];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    flat.push_back(p.grad().reshape({-1}));
  }
  b.flat = torch::cat(flat);
  b.work = g_.all_reduce_sum_async(b.flat);
}

void GradBuckets::finish() {
  if (!armed_) return;
  armed_ = false;
  torch::NoGradGuard ng;
  while (next_ < buckets_.size()) start(next_++);
  for (auto& b : buckets_) {
    b.work->wait();
    b.flat.mul_(scale_);
    int64_t off = 0;
    for (size_t k : b.params) {
      at::Tensor g = params_[k].mutable_grad();
      g.copy_(b.flat.narrow(0, off, g.numel()).view_as(g));
      off += g.numel();
    }
    b.work.reset();
    b.flat = at::Tensor();
  }
}

}  // namespace moescope::dist
