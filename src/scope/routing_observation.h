// routing_observation.h: one MoE layer's routing in one forward as the microscope
// (scope/microscope.h) accumulates it: the slot counts, the sums behind the router metrics
// (docs/metrics.md) and the expert ids. Built from the layer's RoutingRecord (model/moe.h);
// a streamed pass (scope/streamed_pass.h) keeps these per chunk and layer instead of the records.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "model/moe.h"

namespace moescope {

// Replayed in the order an unstreamed pass sees them, they give the same records.
struct RoutingObservation {
  bool valid = false;
  std::vector<int64_t> counts, kept;  // [E] routed slots (pre-capacity), computed slots
  at::Tensor expert_TK;               // [T, K] chosen experts (integer, CPU)
  int64_t tokens = 0, dropped = 0, bias_changed = 0, logit_n = 0;
  double ent_sum = 0, top1_sum = 0, logit_sq = 0, logit_max = -1e30;
  double switch_loss = 0, seq_loss = 0, z_loss = 0;
};
RoutingObservation observe_routing(const RoutingRecord& r, ScoreFunc score_func);

}  // namespace moescope
