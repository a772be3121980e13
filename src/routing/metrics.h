// metrics.h: the routing-health formulas, defined once (docs/metrics.md is their prose).
// Inputs are per-expert slot counts c_i (i < E) of one MoE layer over some scope (a step, a
// log interval, the validation set); load_i = c_i / sum_j c_j; K = top-k, so a layer's tokens
// are sum_j c_j / K. Torch-free.
#pragma once
#include <cstdint>
#include <vector>

namespace moescope {

// Spread of the tokens per expert (the counts c_i): percentiles by linear interpolation between
// the sorted values (rank q * (n - 1)), min, max, CV = population std / mean (0 with no slots).
struct CountSpread {
  double p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0, cv = 0;
};
CountSpread count_spread(std::vector<int64_t> counts);

struct LoadMetrics {
  std::vector<double> load;    // per-expert share of routed slots (sums to 1; all 0 if no slots)
  double entropy_norm = 0;     // H(load) / ln E, in [0, 1]  (H uses 0 ln 0 = 0)
  double n_eff = 0;            // exp(H(load)), in [1, E]
  double cv = 0;               // std(load) / mean(load), population std
  double min_max_ratio = 0;    // min_i load_i / max_i load_i
  double maxvio = 0;           // (max_i c_i - mean c) / mean c
  double max_share = 0;        // max_i load_i, a share of slots (at most 1/K of the tokens' choices)
  double max_token_share = 0;  // max_i c_i / tokens = K * max_share: share of tokens choosing the busiest expert
  int64_t argmax = -1;         // the busiest expert
  int64_t top_k = 1;           // K: slots per token
  std::vector<int64_t> dead;   // experts with c_i = 0
  int64_t total = 0;           // sum of counts
  CountSpread spread;          // tokens per expert
};

LoadMetrics load_metrics(const std::vector<int64_t>& counts, int64_t top_k = 1);

// Starved experts: load_i < ratio / E, a fraction of the uniform slot share (dead ones
// included); none when there are no slots.
std::vector<int64_t> starved_experts(const LoadMetrics& m, double ratio);

// Whether an interval has enough slots to judge its load: C / E >= min_slots_per_expert.
bool load_judged(const LoadMetrics& m, double min_slots_per_expert);

// The token share above which one expert is imbalanced (hot, not dominant): `multiple` times the
// uniform token share K / E, capped at dominant_token_share(base, K, E) (where the multiple
// reaches it, the two bars coincide and the warning band is empty). At 4 and 0.5: top-1 of 8
// 0.5; top-1 of 128 0.03125; top-8 of 128 0.25; top-2 of 8 0.571 (the cap).
double imbalanced_token_share(double multiple, double base, int64_t top_k, int64_t n_experts);

// The token share above which one expert dominates a layer, K-aware: base at K = 1, rising
// linearly in (K - 1) / (E - 1) to 1 at K = E, where every token chooses every expert:
//   base + (1 - base) * (K - 1) / (E - 1).
// With K >= 2 the uniform share K / E can reach base itself (top-4 of 8: 0.5), so a fixed base
// would call a balanced layer dominated; for E >= 3 and K < E the bar is above K / E (at top-1 of
// 2 it equals the uniform 0.5). Examples at base 0.5: top-1 0.5; top-2 of 8 0.571;
// top-2 of 16 0.533; top-4 of 8 0.714; top-4 of 16 0.6.
double dominant_token_share(double base, int64_t top_k, int64_t n_experts);

// Starved experts that make a layer critical: at least `fraction` of its E experts, and at
// least min_count: max(min_count, ceil(fraction * E)). At 0.25 and 2: 2 of 8, 4 of 16, 8 of 32.
int64_t starved_critical_count(int64_t min_count, double fraction, int64_t n_experts);

// MaxVio of one set of counts (0 when there are no slots).
double maxvio(const std::vector<int64_t>& counts);

// Normalised entropy of a probability row: -sum p ln p / ln E.
double normalised_entropy(const double* p, int64_t E);

// Least-squares slope of y against 0..n-1 (0 for fewer than 2 points).
double trend_slope(const std::vector<double>& y);

}  // namespace moescope
