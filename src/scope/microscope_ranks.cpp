// microscope_ranks.cpp: the microscope across the ranks of a multi-process run (see
// microscope.h). At each log interval every rank's accumulators are summed over the world
// group in two all-reduces (integers and doubles) plus one max (logit_max) of the routing
// library's packed intervals (routing/interval.h: pack_intervals), so the metrics
// rank 0 computes are those of the global batch: per-expert slot and kept counts, each step's
// counts (MaxVio_batch), assignment / drop / token / bias-intervention counts, the router
// entropy, top-1 score and logit sums (per-token sums, so their global means are exact), the
// balance-loss sums (each rank's local value; their mean over ranks is the global loss, see
// docs/distributed.md) and the co-activation pair counts.
#include <algorithm>
#include <stdexcept>

#include "dist/process_group.h"
#include "scope/microscope.h"

namespace moescope {

void Microscope::reduce_interval() {
  if (!ctx_.group) return;
  dist::Group& g = *ctx_.group;
  // The fields and their order are the routing library's (routing/interval.h). Every rank ran
  // the same forwards and steps, so the layouts agree; the sizes are compared first so that a
  // disagreement is an error, not garbage.
  IntervalPack p = pack_intervals(acc_, coact_now_);
  const auto layouts = g.all_gather(p.layout());
  for (size_t r = 1; r < layouts.size(); ++r)
    if (layouts[r] != layouts[0])
      throw std::runtime_error("rank " + std::to_string(g.rank()) + ": the microscope's interval of rank " +
                               std::to_string(r) +
                               " differs in shape from rank 0's (different steps or forwards per rank)");
  at::Tensor ti = torch::tensor(p.ints, torch::kLong), ts = torch::tensor(p.sums, torch::kDouble),
             tm = torch::tensor(p.maxes, torch::kDouble);
  g.all_reduce_sum(ti);
  g.all_reduce_sum(ts);
  g.all_reduce_max(tm);
  std::copy(ti.data_ptr<int64_t>(), ti.data_ptr<int64_t>() + ti.numel(), p.ints.begin());
  std::copy(ts.data_ptr<double>(), ts.data_ptr<double>() + ts.numel(), p.sums.begin());
  std::copy(tm.data_ptr<double>(), tm.data_ptr<double>() + tm.numel(), p.maxes.begin());
  unpack_intervals(p, acc_, coact_now_);
}

void Microscope::share_interval_counter() {
  if (!ctx_.group) return;
  at::Tensor t = torch::tensor({interval_}, torch::kLong);
  ctx_.group->broadcast(t, 0);
  interval_ = t.item<int64_t>();
}

}  // namespace moescope
