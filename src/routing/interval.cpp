// interval.cpp: see interval.h. Definitions of every figure: docs/metrics.md.
#include "routing/interval.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "routing/forward_pass.h"
#include "run/log_fields.h"

namespace moescope {
namespace f = log_field;
namespace {

void add_into(std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.empty()) a.assign(b.size(), 0);
  if (a.size() != b.size()) throw std::invalid_argument("routing interval: per-expert arrays of different sizes");
  for (size_t i = 0; i < b.size(); ++i) a[i] += b[i];
}

void pad(std::vector<int64_t>& v, size_t n) {
  if (v.empty()) v.assign(n, 0);
  if (v.size() != n) throw std::logic_error("routing interval: per-expert counts of the wrong size");
}

}  // namespace

nlohmann::json spread_json(const CountSpread& s) {
  return {{"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"min", s.min}, {"max", s.max}, {"cv", s.cv}};
}

void RoutingTotals::add(const RoutingTotals& o) {
#define MOESCOPE_TOTALS_ADD(type, name, red, help) \
  name = Reduction::red == Reduction::kMax ? std::max(name, o.name) : name + o.name;
  MOESCOPE_ROUTING_TOTALS(MOESCOPE_TOTALS_ADD)
#undef MOESCOPE_TOTALS_ADD
}

void check_forward(const ForwardRouting& f, int64_t E, const std::string& where) {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(where + ": " + what); };
  if (static_cast<int64_t>(f.counts.size()) != E)
    fail("counts has " + std::to_string(f.counts.size()) + " entries for " + std::to_string(E) + " experts");
  if (!f.kept.empty() && static_cast<int64_t>(f.kept.size()) != E)
    fail("kept has " + std::to_string(f.kept.size()) + " entries for " + std::to_string(E) + " experts");
  if (f.top_k < 1 || f.top_k > E)
    fail("top_k = " + std::to_string(f.top_k) + " is not in [1, " + std::to_string(E) + "]");
  for (int64_t c : f.counts)
    if (c < 0) fail("a negative count");
  const int64_t slots = std::accumulate(f.counts.begin(), f.counts.end(), int64_t{0});
  if (slots != f.totals.tokens * f.top_k)
    fail("counts sum to " + std::to_string(slots) + " slots, but " + std::to_string(f.totals.tokens) +
         " tokens x top_k " + std::to_string(f.top_k) + " were routed");
  if (!f.expert_TK.empty()) {
    if (static_cast<int64_t>(f.expert_TK.size()) != f.totals.tokens * f.top_k)
      fail("expert ids hold " + std::to_string(f.expert_TK.size()) + " entries for " + std::to_string(f.totals.tokens) +
           " tokens x top_k " + std::to_string(f.top_k));
    for (int64_t e : f.expert_TK)
      if (e < 0 || e >= E) fail("expert id " + std::to_string(e) + " is not in [0, " + std::to_string(E) + ")");
  }
}

void LayerInterval::observe(const ForwardRouting& fr, bool with_coact) {
  add_into(counts, fr.counts);
  add_into(step_counts, fr.counts);
  if (!fr.kept.empty()) add_into(kept, fr.kept);
  totals.add(fr.totals);
  if (!with_coact) return;
  const int64_t K = fr.top_k, T = K > 0 ? static_cast<int64_t>(fr.expert_TK.size()) / K : 0;
  if (coact.empty()) coact.assign(static_cast<size_t>(E_ * E_), 0);
  add_coactivation_pairs(fr.expert_TK.data(), T, K, E_, coact.data());
}

void LayerInterval::end_step(const double* p) {
  step_hist.push_back(step_counts);
  std::fill(step_counts.begin(), step_counts.end(), 0);
  if (!p) return;
  if (bias_steps == 0) {
    bias_sum.assign(p, p + E_);
    bias_lo = bias_hi = bias_sum;
  } else {
    for (int64_t e = 0; e < E_; ++e) {
      bias_sum[e] += p[e];
      bias_lo[e] = std::min(bias_lo[e], p[e]);
      bias_hi[e] = std::max(bias_hi[e], p[e]);
    }
  }
  ++bias_steps;
}

void LayerInterval::add_step_counts(const std::vector<int64_t>& c) {
  if (static_cast<int64_t>(c.size()) != E_)
    throw std::invalid_argument("routing interval: step counts of the wrong size");
  step_hist.push_back(c);
}

void LayerInterval::add_coactivation(const std::vector<int64_t>& pairs) {
  if (static_cast<int64_t>(pairs.size()) != E_ * E_)
    throw std::invalid_argument("routing interval: co-activation is not E x E");
  add_into(coact, pairs);
}

double LayerInterval::maxvio_batch() const {
  double mv = 0;
  for (const auto& c : step_hist) mv += maxvio(c) / double(step_hist.size());
  return mv;
}

double LayerInterval::drop_rate() const { return totals.assign ? double(totals.dropped) / double(totals.assign) : 0.0; }

double LayerInterval::router_entropy() const {
  return totals.prob_tokens ? totals.ent_sum / double(totals.prob_tokens) : 0.0;
}

nlohmann::json LayerInterval::record(int64_t L, const LoadMetrics& m, const std::vector<double>& live_bias,
                                     const ScopeConfig& cfg, const std::string& status, bool gradients) const {
  const RoutingTotals& a = totals;
  const double per_forward = a.forwards ? 1.0 / double(a.forwards) : 0.0;
  nlohmann::json j{{f::kLayer, L},
                   {f::kCounts, counts},
                   {f::kLoad, m.load},
                   {f::kEntropyNorm, m.entropy_norm},
                   {f::kNEff, m.n_eff},
                   {"cv", m.cv},
                   {"min_max_ratio", m.min_max_ratio},
                   {f::kMaxVioBatch, maxvio_batch()},
                   {f::kDead, m.dead},
                   {f::kStarved, load_judged(m, cfg.min_expert_slots) ? starved_experts(m, cfg.starved_ratio)
                                                                      : std::vector<int64_t>{}},
                   {f::kMaxTokenShare, m.max_token_share},
                   {f::kTokensPerExpert, spread_json(m.spread)},
                   {f::kDropRate, drop_rate()},
                   {"bias_intervention", a.assign ? double(a.bias_changed) / double(a.assign) : 0.0},
                   {"balance_loss", a.switch_loss * per_forward},
                   {"seq_balance_loss", a.seq_loss * per_forward},
                   {"z_loss", a.z_loss * per_forward},
                   {f::kStatus, status}};
  if (a.prob_tokens > 0 || a.tokens == 0) {
    j[f::kRouterEntropy] = router_entropy();
    j["top1_score"] = a.prob_tokens ? a.top1_sum / double(a.prob_tokens) : 0.0;
  }
  if (a.logit_n > 0 || a.tokens == 0) {
    j["logit_rms"] = a.logit_n ? std::sqrt(a.logit_sq / double(a.logit_n)) : 0.0;
    j["logit_max"] = a.logit_max;
  }
  // The bias: mean over the interval's steps (the live bias when no step ended in it); none for
  // a router without one.
  std::vector<double> bv = bias_sum, lo = bias_lo, hi = bias_hi;
  if (bias_steps == 0) {
    bv = lo = hi = live_bias;
  } else {
    for (double& v : bv) v /= double(bias_steps);
  }
  if (!bv.empty()) {
    const double mean = std::accumulate(bv.begin(), bv.end(), 0.0) / double(bv.size());
    double var = 0;
    for (double v : bv) var += (v - mean) * (v - mean);
    j[f::kBias] = bv;
    j["bias_lo"] = lo;
    j["bias_hi"] = hi;
    j["bias_min"] = *std::min_element(bv.begin(), bv.end());
    j["bias_max"] = *std::max_element(bv.begin(), bv.end());
    j["bias_std"] = std::sqrt(var / double(bv.size()));
  }
  if (gradients) {
    j["router_grad_norm"] = router_grad;
    j[f::kExpertGradNorm] = expert_grad;
  }
  if (!coact.empty()) {
    std::vector<std::vector<int64_t>> mat;
    for (int64_t r = 0; r < E_; ++r) mat.emplace_back(coact.begin() + r * E_, coact.begin() + (r + 1) * E_);
    j[f::kCoactivation] = mat;
  }
  return j;
}

int64_t IntervalPack::layout() const {
  return static_cast<int64_t>(ints.size()) * 1000003 + static_cast<int64_t>(sums.size()) * 101 +
         static_cast<int64_t>(maxes.size());
}

IntervalPack pack_intervals(std::vector<LayerInterval>& layers, bool coact) {
  IntervalPack p;
  for (auto& a : layers) {
    const size_t E = static_cast<size_t>(a.n_experts());
    pad(a.counts, E);
    pad(a.kept, E);
    p.ints.insert(p.ints.end(), a.counts.begin(), a.counts.end());
    p.ints.insert(p.ints.end(), a.kept.begin(), a.kept.end());
    for (auto& s : a.step_hist) {
      pad(s, E);
      p.ints.insert(p.ints.end(), s.begin(), s.end());
    }
    a.totals.visit([&](const char*, auto& v, Reduction r) {
      if (r == Reduction::kMax) p.maxes.push_back(static_cast<double>(v));
      else if constexpr (std::is_integral_v<std::decay_t<decltype(v)>>) p.ints.push_back(v);
      else p.sums.push_back(v);
    });
    if (coact) {
      pad(a.coact, E * E);
      p.ints.insert(p.ints.end(), a.coact.begin(), a.coact.end());
    }
  }
  return p;
}

void unpack_intervals(const IntervalPack& p, std::vector<LayerInterval>& layers, bool coact) {
  const int64_t* pi = p.ints.data();
  const double* ps = p.sums.data();
  const double* pm = p.maxes.data();
  for (auto& a : layers) {
    const int64_t E = a.n_experts();
    auto take = [&](std::vector<int64_t>& v, int64_t n) {
      v.assign(pi, pi + n);
      pi += n;
    };
    take(a.counts, E);
    take(a.kept, E);
    for (auto& s : a.step_hist) take(s, E);
    a.totals.visit([&](const char*, auto& v, Reduction r) {
      using T = std::decay_t<decltype(v)>;
      if (r == Reduction::kMax) v = static_cast<T>(*pm++);
      else if constexpr (std::is_integral_v<T>) v = *pi++;
      else v = *ps++;
    });
    if (coact) take(a.coact, E * E);
    if (a.totals.forwards == 0) {  // no forward on any rank: as in one process, no counts and no pairs
      a.counts.clear();
      a.kept.clear();
      a.coact.clear();
    }
  }
  if (pi != p.ints.data() + p.ints.size() || ps != p.sums.data() + p.sums.size() ||
      pm != p.maxes.data() + p.maxes.size())
    throw std::logic_error("routing interval: a reduced pack of the wrong size");
}

}  // namespace moescope
