// routing_weights.h: routing-aware compression (`moescope compress --weight-by ROUTING_RUN`).
// A `scope --model` run over a calibration corpus says how many top-k slots each routed expert
// received (RUN/routing_profile.json, every corpus summed). Each expert's reconstruction error
// then counts in proportion to its routing share, floored:
//   s_i = c_i / sum_j c_j over the layer's E experts,   w_i = max(E * s_i, compress.weight_floor)
// so w_i = 1 is the uniform share, an expert used twice as often counts twice, and one the corpus
// never chose still counts weight_floor (0 = not at all). The solvers minimise
//   J = sum_i w_i ||Z_i - A_i f(alpha_i B)||^2 / sum_i w_i ||Z_i||^2   (solver.h)
// which changes only the shared bank B (each expert's A_i and alpha_i fit that expert alone), so
// the parameter count is the unweighted one.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compress/solver.h"

namespace moescope::compress {

struct RoutingCounts {
  std::string run;                                 // where they came from
  std::map<int64_t, std::vector<int64_t>> layers;  // transformer layer -> [E] top-k slot counts
};

// Reads RUN/routing_profile.json. Throws naming the run when it has none (e.g. a training run:
// make one with `moescope scope --model DIR --data FILE --out RUN`) or it is malformed.
RoutingCounts read_routing_counts(const std::string& run_dir);

// w_E as above (float64). Throws when every count is 0.
at::Tensor routing_weights_E(const std::vector<int64_t>& counts_E, double floor);

// The counts of transformer layer `layer`, which has `n_experts` routed experts. Throws when the
// layer is not in `counts` or has another number of experts (the routing run is of another model).
const std::vector<int64_t>& layer_counts(const RoutingCounts& counts, int64_t layer, int64_t n_experts);

// layer_counts for every MoE layer, before anything is solved or written.
void check_routing_counts(const RoutingCounts& counts, const std::vector<int64_t>& moe_layers, int64_t n_experts);

// Sets every group's objective weights (set_objective_weights) from its experts' (layer, index).
// Throws as layer_counts does.
void apply_routing_weights(std::vector<GroupState>& groups, const RoutingCounts& counts, double floor);

}  // namespace moescope::compress
