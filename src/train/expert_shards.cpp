// expert_shards.cpp: see expert_shards.h.
#include "train/expert_shards.h"

#include <cmath>
#include <set>

#include "dist/collectives.h"
#include "model/expert_parallel.h"

namespace moescope {
namespace {

std::vector<int64_t> empty_shape(const std::vector<int64_t>& full) {
  std::vector<int64_t> s = full;
  s[0] = 0;  // keeps the rank (a 2-d weight stays 2-d: the optimizer's decay rule reads dim())
  return s;
}

}  // namespace

ExpertShards::ExpertShards(Transformer& model, dist::Group& ep, dist::Group* replicas, int world_size)
    : model_(model), ep_(ep), replicas_(replicas), world_size_(world_size) {
  auto layers = model->moe_layers();
  std::set<const void*> expert_impls;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int64_t E = layers[l]->cfg().n_routed;
    const ExpertShard sh = expert_shard(E, ep.rank(), ep.size());
    first_ = sh.first;
    count_ = sh.count;
    per_ = sh.count;
    for (int64_t e = 0; e < E; ++e)
      for (auto& p : layers[l]->experts[e]->parameters()) {
        Slot s;
        s.layer = static_cast<int64_t>(l);
        s.expert = e;
        s.owned = e >= sh.first && e < sh.first + sh.count;
        s.param = p;
        s.shape = p.sizes().vec();
        slots_.push_back(s);
        expert_impls.insert(p.unsafeGetTensorImpl());
      }
  }
  for (auto& p : model->parameters())
    if (p.requires_grad() && !expert_impls.count(p.unsafeGetTensorImpl())) replicated_.push_back(p);
  release();
}

void ExpertShards::attach(AdamW& opt) {
  const auto st = opt.state();  // exp_avg/<i>, exp_avg_sq/<i> in parameter order; same TensorImpls
  const auto& ps = opt.params();
  for (auto& s : slots_)
    for (size_t i = 0; i < ps.size(); ++i)
      if (ps[i].param.is_same(s.param)) {
        s.m = st[2 * i].second;
        s.v = st[2 * i + 1].second;
      }
}

at::Tensor& ExpertShards::grad_of(Slot& s) {
  if (!s.param.grad().defined()) s.param.mutable_grad() = torch::zeros(s.shape, s.param.options());
  return s.param.mutable_grad();
}

void ExpertShards::allocate(unsigned kinds) {
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    if (s.owned) continue;
    if ((kinds & kWeights) && !(s.full & kWeights)) s.param.set_data(torch::zeros(s.shape, s.param.options()));
    if ((kinds & kGrads) && !(s.full & kGrads)) s.param.mutable_grad() = torch::zeros(s.shape, s.param.options());
    if ((kinds & kMoments) && !(s.full & kMoments) && s.m.defined()) {
      s.m.set_(torch::zeros(s.shape, s.m.options()));
      s.v.set_(torch::zeros(s.shape, s.v.options()));
    }
    s.full |= kinds;
  }
}

void ExpertShards::gather(unsigned kinds, int root) {
  torch::NoGradGuard ng;
  const bool keep = root < 0 || root == ep_.rank();
  const int64_t n_layers = slots_.empty() ? 0 : slots_.back().layer + 1;
  for (int q = 0; q < ep_.size(); ++q)
    for (int64_t l = 0; l < n_layers; ++l) {
      std::vector<at::Tensor> ts;  // the same shapes, in the same order, on every rank
      for (auto& s : slots_) {
        if (s.layer != l || s.expert / per_ != q) continue;
        for (const unsigned k : {unsigned(kWeights), unsigned(kGrads), unsigned(kMoments)}) {
          if (!(kinds & k) || (k == kMoments && !s.m.defined())) continue;
          const int n = k == kMoments ? 2 : 1;
          if (!s.owned && (!keep || (s.full & k))) {  // received and dropped
            for (int i = 0; i < n; ++i) ts.push_back(torch::zeros(s.shape, s.param.options()));
            continue;
          }
          if (!s.owned) {  // a full copy kept here
            if (k == kWeights) s.param.set_data(torch::zeros(s.shape, s.param.options()));
            if (k == kGrads) s.param.mutable_grad() = torch::zeros(s.shape, s.param.options());
            if (k == kMoments) {
              s.m.set_(torch::zeros(s.shape, s.m.options()));
              s.v.set_(torch::zeros(s.shape, s.v.options()));
            }
          }
          if (k == kWeights) ts.push_back(s.param.detach());
          if (k == kGrads) ts.push_back(grad_of(s));
          if (k == kMoments) {
            ts.push_back(s.m);
            ts.push_back(s.v);
          }
        }
      }
      dist::broadcast_all(ep_, ts, q);
    }
  if (keep)
    for (auto& s : slots_)
      if (!s.owned) s.full |= kinds;
}

void ExpertShards::release() {
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    if (s.owned) continue;
    s.param.set_data(torch::empty(empty_shape(s.shape), s.param.options()));
    if (s.param.grad().defined()) s.param.mutable_grad().reset();
    if (s.m.defined()) {
      s.m.set_(torch::empty(empty_shape(s.shape), s.m.options()));
      s.v.set_(torch::empty(empty_shape(s.shape), s.v.options()));
    }
    s.full = 0;
  }
}

void ExpertShards::average_gradients(dist::Group& world) {
  torch::NoGradGuard ng;
  std::vector<at::Tensor> rep, own;
  for (auto& p : replicated_) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    rep.push_back(p.grad());
  }
  dist::all_reduce_mean(world, rep);
  for (auto& s : slots_)
    if (s.owned) own.push_back(grad_of(s));
  const double scale = 1.0 / static_cast<double>(world_size_);
  if (replicas_) {
    dist::all_reduce_sum_scaled(*replicas_, own, scale);
  } else {
    for (auto& g : own) g.mul_(scale);
  }
}

std::vector<at::Tensor> ExpertShards::owned_params() const {
  std::vector<at::Tensor> out;
  for (const auto& s : slots_)
    if (s.owned) out.push_back(s.param);
  return out;
}

void ExpertShards::scale_owned_grads() {
  torch::NoGradGuard ng;
  for (auto& s : slots_)
    if (s.owned) grad_of(s).mul_(1.0 / static_cast<double>(world_size_));
}

double ExpertShards::clip_grad_norm(double max_norm) {
  torch::NoGradGuard ng;
  double sq_rep = 0;
  for (auto& p : replicated_)
    if (p.grad().defined()) {
      const double n = p.grad().norm().item<double>();
      sq_rep += n * n;
    }
  double sq_own = 0;
  for (auto& s : slots_)
    if (s.owned && s.param.grad().defined()) {
      const double n = s.param.grad().norm().item<double>();
      sq_own += n * n;
    }
  at::Tensor sq_exp = torch::tensor({sq_own}, torch::kDouble);
  ep_.all_reduce_sum(sq_exp);  // every expert once: one owner per EP group
  const double total = std::sqrt(sq_rep + sq_exp.item<double>());
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (auto& p : replicated_)
      if (p.grad().defined()) p.mutable_grad().mul_(coef);
    for (auto& s : slots_)
      if (s.owned && s.param.grad().defined()) s.param.mutable_grad().mul_(coef);
  }
  return total;
}

ExpertShards::Bytes ExpertShards::expert_bytes() const {
  Bytes b;
  auto nb = [](const at::Tensor& t) {
    return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : int64_t{0};
  };
  for (const auto& s : slots_) {
    b.weights += nb(s.param);
    b.grads += nb(s.param.grad());
    b.moments += nb(s.m) + nb(s.v);
  }
  return b;
}

}  // namespace moescope
