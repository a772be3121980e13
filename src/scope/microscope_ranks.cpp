// microscope_ranks.cpp: the microscope across the ranks of a multi-process run (see
// microscope.h). At each log interval every rank's accumulators are summed over the world
// group in two all-reduces (integers and doubles) plus one max (logit_max), so the metrics
// rank 0 computes are those of the global batch: per-expert slot and kept counts, each step's
// counts (MaxVio_batch), assignment / drop / token / bias-intervention counts, the router
// entropy, top-1 score and logit sums (per-token sums, so their global means are exact), the
// balance-loss sums (each rank's local value; their mean over ranks is the global loss, see
// docs/distributed.md) and the co-activation pair counts.
#include <stdexcept>

#include "dist/process_group.h"
#include "scope/microscope.h"

namespace moescope {
namespace {

void pad(std::vector<int64_t>& v, size_t n) {
  if (v.empty()) v.assign(n, 0);
  if (v.size() != n) throw std::logic_error("microscope: per-expert counts of the wrong size");
}

}  // namespace

void Microscope::reduce_interval() {
  if (!ctx_.group) return;
  dist::Group& g = *ctx_.group;
  // Pack, in one fixed order per layer. Every rank ran the same forwards and steps, so the
  // layouts agree; the sizes are compared first so that a disagreement is an error, not garbage.
  std::vector<int64_t> ints;
  std::vector<double> sums, maxes;
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto& a = acc_[i];
    const size_t E = static_cast<size_t>(moe_[i]->cfg().n_routed);
    pad(a.counts, E);
    pad(a.kept, E);
    ints.insert(ints.end(), a.counts.begin(), a.counts.end());
    ints.insert(ints.end(), a.kept.begin(), a.kept.end());
    for (auto& s : a.step_hist) {
      pad(s, E);
      ints.insert(ints.end(), s.begin(), s.end());
    }
    ints.insert(ints.end(), {a.assign, a.dropped, a.bias_changed, a.tokens, a.forwards, a.logit_n});
    sums.insert(sums.end(), {a.ent_sum, a.top1_sum, a.logit_sq, a.switch_loss, a.seq_loss, a.z_loss});
    if (coact_now_) {
      if (!a.coact.defined()) a.coact = torch::zeros({int64_t(E), int64_t(E)}, torch::kDouble);
      auto c = a.coact.to(torch::kDouble).contiguous();
      sums.insert(sums.end(), c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    }
    maxes.push_back(a.logit_max);
  }
  const auto layouts = g.all_gather(static_cast<int64_t>(ints.size()) * 1000003 + static_cast<int64_t>(sums.size()));
  for (size_t r = 1; r < layouts.size(); ++r)
    if (layouts[r] != layouts[0])
      throw std::runtime_error("rank " + std::to_string(g.rank()) + ": the microscope's interval of rank " + std::to_string(r) +
                               " differs in shape from rank 0's (different steps or forwards per rank)");
  at::Tensor ti = torch::tensor(ints, torch::kLong), ts = torch::tensor(sums, torch::kDouble),
             tm = torch::tensor(maxes, torch::kDouble);
  g.all_reduce_sum(ti);
  g.all_reduce_sum(ts);
  g.all_reduce_max(tm);
  const int64_t* pi = ti.data_ptr<int64_t>();
  const double* ps = ts.data_ptr<double>();
  const double* pm = tm.data_ptr<double>();
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto& a = acc_[i];
    const int64_t E = moe_[i]->cfg().n_routed;
    auto take = [&](std::vector<int64_t>& v) {
      v.assign(pi, pi + E);
      pi += E;
    };
    take(a.counts);
    take(a.kept);
    for (auto& s : a.step_hist) take(s);
    a.assign = *pi++;
    a.dropped = *pi++;
    a.bias_changed = *pi++;
    a.tokens = *pi++;
    a.forwards = *pi++;
    a.logit_n = *pi++;
    a.ent_sum = *ps++;
    a.top1_sum = *ps++;
    a.logit_sq = *ps++;
    a.switch_loss = *ps++;
    a.seq_loss = *ps++;
    a.z_loss = *ps++;
    if (coact_now_) {
      a.coact = torch::from_blob(const_cast<double*>(ps), {E, E}, torch::kDouble).clone();
      ps += E * E;
    }
    a.logit_max = *pm++;
    if (a.forwards == 0) {  // no forward on any rank: as in one process, no counts and no pairs
      a.counts.clear();
      a.kept.clear();
      if (coact_now_) a.coact = at::Tensor();
    }
  }
}

void Microscope::share_interval_counter() {
  if (!ctx_.group) return;
  at::Tensor t = torch::tensor({interval_}, torch::kLong);
  ctx_.group->broadcast(t, 0);
  interval_ = t.item<int64_t>();
}

}  // namespace moescope
