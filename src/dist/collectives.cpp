// collectives.cpp: see collectives.h.
#include "dist/collectives.h"

#include <torch/torch.h>

#include <cstring>
#include <functional>

namespace moescope::dist {
namespace {

// Calls f(bucket) for consecutive runs of tensors of one dtype and device (one backend: a
// CUDA build's state mixes CUDA weights with CPU tensors) up to bucket_bytes each.
void for_buckets(const std::vector<at::Tensor>& ts, int64_t bucket_bytes,
                 const std::function<void(const std::vector<at::Tensor>&)>& f) {
  std::vector<at::Tensor> cur;
  int64_t bytes = 0;
  for (const auto& t : ts) {
    const int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    if (!cur.empty() && (bytes + b > bucket_bytes || cur.front().scalar_type() != t.scalar_type() ||
                         cur.front().device() != t.device())) {
      f(cur);
      cur.clear();
      bytes = 0;
    }
    cur.push_back(t);
    bytes += b;
  }
  if (!cur.empty()) f(cur);
}

at::Tensor flatten(const std::vector<at::Tensor>& b) {
  std::vector<at::Tensor> flat;
  for (const auto& t : b) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const at::Tensor& flat_N, const std::vector<at::Tensor>& b) {
  int64_t off = 0;
  for (const auto& t : b) {
    t.copy_(flat_N.narrow(0, off, t.numel()).view_as(t));
    off += t.numel();
  }
}

}  // namespace

void all_reduce_mean(Group& g, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  all_reduce_sum_scaled(g, tensors, 1.0 / static_cast<double>(g.size()), bucket_bytes);
}

void all_reduce_sum_scaled(Group& g, const std::vector<at::Tensor>& tensors, double scale, int64_t bucket_bytes) {
  torch::NoGradGuard ng;
  const double inv = scale;
  for_buckets(tensors, bucket_bytes, [&](const std::vector<at::Tensor>& b) {
    at::Tensor flat_N = flatten(b);
    g.all_reduce_sum(flat_N);
    flat_N.mul_(inv);
    unflatten_into(flat_N, b);
  });
}

void broadcast_all(Group& g, const std::vector<at::Tensor>& tensors, int root, int64_t bucket_bytes) {
  torch::NoGradGuard ng;
  for_buckets(tensors, bucket_bytes, [&](const std::vector<at::Tensor>& b) {
    at::Tensor flat_N = flatten(b);
    g.broadcast(flat_N, root);
    if (g.rank() != root) unflatten_into(flat_N, b);
  });
}

void broadcast_string(Group& g, std::string& s, int root) {
  at::Tensor n = torch::tensor({static_cast<int64_t>(s.size())}, torch::kLong);
  g.broadcast(n, root);
  const int64_t len = n.item<int64_t>();
  at::Tensor bytes = torch::zeros({len}, torch::kUInt8);
  if (g.rank() == root && len > 0) std::memcpy(bytes.data_ptr(), s.data(), static_cast<size_t>(len));
  if (len > 0) g.broadcast(bytes, root);
  if (g.rank() != root) s.assign(reinterpret_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(len));
}

}  // namespace moescope::dist

namespace moescope::dist {
namespace {
Group* g_batch_group = nullptr;
}  // namespace

GlobalBatchScope::GlobalBatchScope(Group* g) : prev_(g_batch_group) { g_batch_group = g; }
GlobalBatchScope::~GlobalBatchScope() { g_batch_group = prev_; }
Group* GlobalBatchScope::group() { return g_batch_group; }

namespace {
Group* g_ep_group = nullptr;
}  // namespace

ExpertParallelScope::ExpertParallelScope(Group* g) : prev_(g_ep_group) { g_ep_group = g; }
ExpertParallelScope::~ExpertParallelScope() { g_ep_group = prev_; }
Group* ExpertParallelScope::group() { return g_ep_group; }

}  // namespace moescope::dist
