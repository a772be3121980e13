// expert_parallel.h: expert parallelism (EP) of one MoE layer over a process group: the routed
// experts are split evenly over the W ranks (n_routed % W == 0; rank r owns experts
// [r E/W, (r+1) E/W)); router and shared experts are replicated.
// ep_moe_forward, on this rank's tokens (every rank passes the same number of tokens):
//   1. routing here, with the replicated router;
//   2. capacity and drops decided for the whole global batch: the routing (expert ids and gate
//      weights, detached) is gathered from every rank and plan_dispatch runs on it, so each
//      expert keeps the assignments it would keep in one process holding all ranks' tokens in
//      rank order (moe.capacity_factor and moe.drop_policy keep their per-expert meaning);
//   3. kept assignments sorted by expert; per-rank, per-expert counts exchanged first
//      (dist::exchange_counts), then the token rows (dist::all_to_all_rows, variable splits);
//   4. the owner runs its experts over their rows (one grouped_swiglu), sends the outputs back
//      by the reverse exchange; the gate weights are applied here and the outputs summed per
//      token, plus the shared experts.
// Backward runs both exchanges in reverse (they are autograd functions). The layer object holds
// every expert's weights (memory is not sharded yet), but rank r computes, and gets gradients
// for, only its own experts. ep_moe_forward returns y_BSD like MoELayerImpl::forward (without
// its routing record); in training, MoELayerImpl::forward itself takes this path inside a
// dist::ExpertParallelScope (the trainer's step with train.expert_parallel > 1).
#pragma once
#include "dist/process_group.h"
#include "model/moe.h"
#include "model/router.h"
#include "ops/dispatch.h"

namespace moescope {

struct ExpertShard {
  int64_t first = 0, count = 0;  // this rank's experts [first, first + count)
};
// Rank `rank` of `world`; throws std::invalid_argument unless n_routed divides over the ranks.
ExpertShard expert_shard(int64_t n_routed, int rank, int world);

at::Tensor ep_moe_forward(MoELayerImpl& layer, const at::Tensor& x_BSD, dist::Group& g);
// Steps 2-4 for a routing already made (MoELayerImpl::forward under dist::ExpertParallelScope):
// the routed contribution y_TD [T, D]; *plan describes this rank's tokens (keep_TK, kept counts
// per expert in offsets, n_dropped) with the global capacity.
at::Tensor ep_routed_forward(MoELayerImpl& layer, const at::Tensor& x_TD, const Routing& r, dist::Group& g,
                             DispatchPlan* plan);

}  // namespace moescope
