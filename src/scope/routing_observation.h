// routing_observation.h: one MoE layer's routing in one forward as the microscope
// (scope/microscope.h) feeds it to the routing library: the plain-array ForwardRouting
// (routing/interval.h: slot counts and the sums behind the router metrics, docs/metrics.md) and
// the expert ids. Built from the layer's RoutingRecord (model/moe.h); a streamed pass
// (scope/streamed_pass.h) keeps these per chunk and layer instead of the records.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "model/moe.h"
#include "routing/interval.h"

namespace moescope {

// Replayed in the order an unstreamed pass sees them, they give the same records.
struct RoutingObservation {
  bool valid = false;
  ForwardRouting routing;  // counts, kept, top_k and the totals (expert ids left empty)
  at::Tensor expert_TK;    // [T, K] chosen experts (integer, CPU)
};
RoutingObservation observe_routing(const RoutingRecord& r, ScoreFunc score_func);

// An integer tensor's values on the host as int64 (counts, expert ids).
std::vector<int64_t> to_int64_vector(const at::Tensor& t);

// The observation as the routing library takes it; with_ids: expert_TK copied in too (the
// intervals that sample co-activation).
ForwardRouting forward_routing(const RoutingObservation& o, bool with_ids);

}  // namespace moescope
