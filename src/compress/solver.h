// solver.h: the state both solvers work on and report through.
//
// Legend: E experts, P hidden rows, D width, R rank, M bases (basis_model.h).
// Solvers see each group's weights z-scored: Z_EPD = (W_EPD - mean_E) / std_E, with mean/std
// the scalar statistics of the expert's layer and family (normalise.h). Everything is float64.
// The objective both minimise is J = sum_groups sum_i w_i ||Z_i - A_i f(alpha_i B)||_F^2 /
// sum_i w_i ||Z_i||_F^2, with w_i = 1 unless the experts are weighted by their routing share
// (compress --weight-by, routing_weights.h); with w = 1 it is ||Z - A f(alpha B)||^2 / ||Z||^2.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "compress/basis_model.h"
#include "core/config.h"

namespace moescope::compress {

struct GroupState {
  std::string name, family;
  int64_t layer = -1;
  std::vector<int64_t> expert_layer, expert_index;
  at::Tensor Z_EPD;                    // normalised targets
  at::Tensor mean_E, std_E;            // per-expert normalisation (the layer's scalars)
  double w_norm2 = 0;                  // ||W||_F^2 in original units (for the relative error)
  double z_norm2 = 0;                  // ||Z||_F^2
  at::Tensor A_EPR, B_MRD, logits_EM;  // the factors in normalised units
  at::Tensor weight_E;                 // [E] float64 objective weights; undefined = every w_i = 1
  double wz_norm2 = 0;                 // sum_i w_i ||Z_i||_F^2 (set with weight_E by set_objective_weights)
};

// Sets g.weight_E = w_E (float64 [E]) and the weighted denominator it implies.
void set_objective_weights(GroupState& g, at::Tensor w_E);

// The group's objective weights: weight_E, or ones [E] (float64).
at::Tensor objective_weights(const GroupState& g);
// The weighted objective's denominator sum_i w_i ||Z_i||^2 (= z_norm2 when unweighted; cached).
double weighted_z_norm2(const GroupState& g);

// Per-iteration quality of one group (factor_metrics.h computes it; docs/compression.md defines it).
struct GroupMetrics {
  std::string group, family;
  int64_t layer = -1;
  double rel_error = 0, mse = 0;
  double weighted_rel_error = -1;  // sqrt(sum w_i ||res_i||^2 / sum w_i ||W_i||^2); -1 = unweighted group
  double support_median = 0, support_mean = 0, support_p95 = 0;
  double alpha_entropy = 0, coherence = 0, cond = 0;
  int64_t nonfinite = 0;
};

struct IterationReport {
  int64_t iter = 0;
  double seconds = 0, elapsed_s = 0;
  double objective = 0;
  std::vector<GroupMetrics> groups;
};

struct SolveResult {
  int64_t iters = 0;      // iterations run
  int64_t best_iter = 0;  // the iteration whose state was kept
  double best_objective = 0;
  std::string stop_reason;  // "max_iters", "target_rel_error", "plateau", "coherence", "nonfinite"
};

using ReportFn = std::function<void(const IterationReport&)>;

// Both keep the best state (lowest objective) and restore it on return.
SolveResult solve_gradient(std::vector<GroupState>& groups, const CompressConfig& cfg, Activation f,
                           const ReportFn& report);
SolveResult solve_altmin(std::vector<GroupState>& groups, const CompressConfig& cfg, Activation f,
                         const ReportFn& report);
SolveResult solve(std::vector<GroupState>& groups, const CompressConfig& cfg, Activation f, const ReportFn& report);

// J for one group (sum_i w_i ||Z_i - A_i f(alpha_i B)||^2 / sum_i w_i ||Z_i||^2) and for all.
double group_objective(const GroupState& g, Activation f);
double objective(const std::vector<GroupState>& groups, Activation f);

}  // namespace moescope::compress
