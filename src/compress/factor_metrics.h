// factor_metrics.h: per-iteration quality metrics of a group, and the JSON records of metrics.jsonl.
//
// rel_error   ||W - W_hat||_F / ||W||_F in original units;  mse = ||W - W_hat||_F^2 / numel
// support_*   per expert, the number of alpha_ij > prune_eps: median, mean, 95th percentile
// alpha_entropy  mean over experts of -sum_j alpha_ij ln alpha_ij (nats)
// coherence   largest |cos| between two different (flattened) bases; 0 with one basis
// cond        largest condition number over experts of the A-refit Gram C C^T + ridge
// nonfinite   NaN/Inf entries in A, B, the logits and W_hat
#pragma once
#include <nlohmann/json.hpp>

#include "compress/solver.h"

namespace moescope::compress {

GroupMetrics measure(const GroupState& g, Activation f, double prune_eps, double ridge);
// Metrics of every group plus the objective, as one iteration's report (timings left to the caller).
IterationReport measure_all(const std::vector<GroupState>& gs, Activation f, const CompressConfig& cfg, int64_t iter);
double bank_coherence(const at::Tensor& B_MRD);
at::Tensor support_E(const at::Tensor& alpha_EM, double prune_eps);  // int64 counts

// {"group","layer","family","rel_error",...} as in docs/compression.md.
nlohmann::json to_json(const GroupMetrics& m);
// One "compress" record: {"schema":1,"type":"compress","step",..,"solver",..,"groups":[..]}.
nlohmann::json iteration_record(const IterationReport& r, const std::string& solver);

}  // namespace moescope::compress
