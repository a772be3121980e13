// routing_observation.cpp: see routing_observation.h. Definitions: docs/metrics.md.
#include "scope/routing_observation.h"

#include <cmath>

namespace moescope {
std::vector<int64_t> to_int64_vector(const at::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

RoutingObservation observe_routing(const RoutingRecord& r, ScoreFunc score_func) {
  torch::NoGradGuard ng;
  RoutingObservation o;
  if (!r.valid) return o;
  o.valid = true;
  ForwardRouting& f = o.routing;
  f.counts = to_int64_vector(r.counts_E);
  f.kept = to_int64_vector(r.kept_E);
  o.expert_TK = r.expert_TK.to(torch::kCPU);
  f.top_k = o.expert_TK.size(1);
  const int64_t E = r.scores_TE.size(1);
  RoutingTotals& t = f.totals;
  t.tokens = r.n_tokens;
  t.prob_tokens = r.n_tokens;
  t.assign = r.n_tokens * f.top_k;
  t.forwards = 1;
  t.dropped = r.n_dropped;
  t.bias_changed = r.bias_changed;
  auto p = r.scores_TE.to(torch::kDouble);
  if (score_func == ScoreFunc::kSigmoid) p = p / p.sum(-1, true);
  t.ent_sum = (-(p * p.clamp_min(1e-300).log()).sum(-1) / std::log(double(E))).sum().item<double>();
  t.top1_sum = std::get<0>(r.scores_TE.max(-1)).sum().item<double>();
  t.logit_sq = r.logits_TE.to(torch::kDouble).pow(2).sum().item<double>();
  t.logit_n = r.logits_TE.numel();
  t.logit_max = r.logits_TE.max().item<double>();
  t.switch_loss = r.switch_loss;
  t.seq_loss = r.seq_loss;
  t.z_loss = r.z_loss;
  return o;
}

ForwardRouting forward_routing(const RoutingObservation& o, bool with_ids) {
  ForwardRouting f = o.routing;
  if (with_ids && o.expert_TK.defined()) f.expert_TK = to_int64_vector(o.expert_TK);
  return f;
}

}  // namespace moescope
