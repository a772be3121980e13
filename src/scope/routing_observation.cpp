// routing_observation.cpp: see routing_observation.h. Definitions: docs/metrics.md.
#include "scope/routing_observation.h"

#include <cmath>

namespace moescope {
namespace {
std::vector<int64_t> to_vec(const at::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
}  // namespace

RoutingObservation observe_routing(const RoutingRecord& r, ScoreFunc score_func) {
  torch::NoGradGuard ng;
  RoutingObservation o;
  if (!r.valid) return o;
  o.valid = true;
  o.counts = to_vec(r.counts_E);
  o.kept = to_vec(r.kept_E);
  o.expert_TK = r.expert_TK.to(torch::kCPU);
  const int64_t E = r.scores_TE.size(1);
  o.tokens = r.n_tokens;
  o.dropped = r.n_dropped;
  o.bias_changed = r.bias_changed;
  auto p = r.scores_TE.to(torch::kDouble);
  if (score_func == ScoreFunc::kSigmoid) p = p / p.sum(-1, true);
  o.ent_sum = (-(p * p.clamp_min(1e-300).log()).sum(-1) / std::log(double(E))).sum().item<double>();
  o.top1_sum = std::get<0>(r.scores_TE.max(-1)).sum().item<double>();
  o.logit_sq = r.logits_TE.to(torch::kDouble).pow(2).sum().item<double>();
  o.logit_n = r.logits_TE.numel();
  o.logit_max = r.logits_TE.max().item<double>();
  o.switch_loss = r.switch_loss;
  o.seq_loss = r.seq_loss;
  o.z_loss = r.z_loss;
  return o;
}

}  // namespace moescope
