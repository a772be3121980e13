// metrics.h: the routing-health formulas, defined once (docs/metrics.md is their prose).
// Inputs are per-expert slot counts c_i (i < E) of one MoE layer over some scope (a step, a
// log interval, the validation set); load_i = c_i / sum_j c_j. Torch-free.
#pragma once
#include <cstdint>
#include <vector>

namespace moescope {

struct LoadMetrics {
  std::vector<double> load;  // per-expert share of routed slots (sums to 1; all 0 if no slots)
  double entropy_norm = 0;   // H(load) / ln E, in [0, 1]  (H uses 0 ln 0 = 0)
  double n_eff = 0;          // exp(H(load)), in [1, E]
  double cv = 0;             // std(load) / mean(load), population std
  double min_max_ratio = 0;  // min_i load_i / max_i load_i
  double maxvio = 0;         // (max_i c_i - mean c) / mean c
  double max_share = 0;      // max_i load_i
  int64_t argmax = -1;       // the busiest expert
  std::vector<int64_t> dead; // experts with c_i = 0
  int64_t total = 0;         // sum of counts
};

LoadMetrics load_metrics(const std::vector<int64_t>& counts);

// MaxVio of one set of counts (0 when there are no slots).
double maxvio(const std::vector<int64_t>& counts);

// Normalised entropy of a probability row: -sum p ln p / ln E.
double normalised_entropy(const double* p, int64_t E);

// Least-squares slope of y against 0..n-1 (0 for fewer than 2 points).
double trend_slope(const std::vector<double>& y);

}  // namespace moescope
