// expert_parallel.cpp: see expert_parallel.h.
#include "model/expert_parallel.h"

#include "dist/all_to_all.h"
#include "ops/attention_core.h"
#include "ops/grouped_swiglu.h"

namespace moescope {
namespace {

// This rank's [T, ...] rows placed at rows [r T, (r+1) T) of a [W T, ...] tensor summed over
// ranks: an all-gather of equal shards (adding zeros is exact).
at::Tensor gather_rows(dist::Group& g, const at::Tensor& x) {
  auto sizes = x.sizes().vec();
  const int64_t T = sizes[0];
  sizes[0] = T * g.size();
  at::Tensor all = torch::zeros(sizes, x.options().device(torch::kCPU));
  all.narrow(0, static_cast<int64_t>(g.rank()) * T, T).copy_(x);
  g.all_reduce_sum(all);
  return all.to(x.device());
}

}  // namespace

ExpertShard expert_shard(int64_t n_routed, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world || n_routed % world != 0)
    throw std::invalid_argument("expert parallelism: moe.n_routed = " + std::to_string(n_routed) +
                                " does not divide over " + std::to_string(world) + " ranks (rank " +
                                std::to_string(rank) + ")");
  const int64_t per = n_routed / world;
  return {static_cast<int64_t>(rank) * per, per};
}

at::Tensor ep_moe_forward(MoELayerImpl& layer, const at::Tensor& x_BSD, dist::Group& g) {
  const auto sizes = x_BSD.sizes().vec();
  auto x_TD = x_BSD.reshape({-1, sizes.back()});
  Routing r = layer.gate->forward(x_BSD);
  DispatchPlan plan;
  at::Tensor y_TD = ep_routed_forward(layer, x_TD, r, g, &plan);
  if (!layer.shared_experts.is_empty()) y_TD = y_TD + layer.shared_experts->forward(x_TD);
  return y_TD.view(sizes);
}

at::Tensor ep_routed_forward(MoELayerImpl& layer, const at::Tensor& x_TD, const Routing& r, dist::Group& g,
                             DispatchPlan* plan) {
  const MoEConfig& mc = layer.cfg();
  const int64_t E = mc.n_routed, K = mc.top_k, W = g.size();
  const ExpertShard shard = expert_shard(E, g.rank(), g.size());
  const int64_t C = shard.count;
  const int64_t T = x_TD.size(0);

  // 2. The global capacity decision.
  at::Tensor keep_TK;
  {
    torch::NoGradGuard ng;
    at::Tensor w_all = gather_rows(g, r.weight_TK.detach().to(torch::kDouble));
    at::Tensor e_all = gather_rows(g, r.expert_TK);
    DispatchPlan global = plan_dispatch(e_all, w_all, E, mc.capacity_factor, mc.drop_policy);
    keep_TK = global.keep_TK.narrow(0, static_cast<int64_t>(g.rank()) * T, T).to(x_TD.device());
    plan->capacity = global.capacity;
    plan->keep_TK = keep_TK;
    plan->n_dropped = keep_TK.numel() - keep_TK.sum().item<int64_t>();
  }
  // 3. Kept assignments by expert (stable: token order within an expert), counts, then rows.
  at::Tensor slot_A, expert_A;
  {
    torch::NoGradGuard ng;
    at::Tensor slots = torch::nonzero(keep_TK.reshape({-1})).reshape({-1});
    at::Tensor e_kept = r.expert_TK.reshape({-1}).index_select(0, slots);
    auto sorted = torch::sort(e_kept, /*stable=*/true, /*dim=*/0, /*descending=*/false);
    expert_A = std::get<0>(sorted);
    slot_A = slots.index_select(0, std::get<1>(sorted));
  }
  at::Tensor token_A = torch::div(slot_A, K, "floor");
  at::Tensor counts_E = torch::bincount(expert_A, {}, E).to(torch::kCPU);
  plan->offsets.assign(1, 0);
  for (int64_t e = 0; e < E; ++e) plan->offsets.push_back(plan->offsets.back() + counts_E[e].item<int64_t>());
  plan->token_A = token_A;
  plan->slot_A = slot_A;
  at::Tensor counts_WC = counts_E.view({W, C});
  at::Tensor recv_WC = dist::exchange_counts(g, counts_WC);
  std::vector<int64_t> in_splits(W), out_splits(W);
  for (int64_t j = 0; j < W; ++j) {
    in_splits[j] = counts_WC[j].sum().item<int64_t>();
    out_splits[j] = recv_WC[j].sum().item<int64_t>();
  }
  at::Tensor x_recv = dist::all_to_all_rows(g, x_TD.index_select(0, token_A), in_splits, out_splits);

  // 4. Received rows are grouped by source rank, then by expert: regroup by expert for one
  //    grouped matmul per expert, run the experts, restore the order and send back.
  std::vector<int64_t> perm, exp_sizes(C, 0);
  {
    std::vector<int64_t> block_off(W * C);  // start of (source j, expert c) in the received order
    int64_t off = 0;
    for (int64_t j = 0; j < W; ++j)
      for (int64_t c = 0; c < C; ++c) {
        block_off[j * C + c] = off;
        off += recv_WC[j][c].item<int64_t>();
      }
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < W; ++j) {
        const int64_t n = recv_WC[j][c].item<int64_t>();
        for (int64_t i = 0; i < n; ++i) perm.push_back(block_off[j * C + c] + i);
        exp_sizes[c] += n;
      }
  }
  at::Tensor perm_A = torch::tensor(perm, torch::kLong).to(x_TD.device());
  at::Tensor x_local = x_recv.index_select(0, perm_A);
  at::Tensor y_local;
  if (x_local.size(0) == 0) {
    y_local = x_local * 0;  // keeps this rank in the backward exchange
  } else {
    std::vector<at::Tensor> wg, wu, wd;
    for (int64_t c = 0; c < C; ++c) {
      auto* ex = layer.experts[shard.first + c]->as<SwiGLUMlpImpl>();
      wg.push_back(ex->gate_proj->weight);
      wu.push_back(ex->up_proj->weight);
      wd.push_back(ex->down_proj->weight);
    }
    y_local = grouped_swiglu(x_local, torch::ones({x_local.size(0)}, x_local.options()), exp_sizes, wg, wu, wd);
  }
  at::Tensor inv_A = torch::empty_like(perm_A);
  if (perm_A.numel() > 0) inv_A.index_put_({perm_A}, torch::arange(perm_A.numel(), perm_A.options()));
  at::Tensor y_back = dist::all_to_all_rows(g, y_local.index_select(0, inv_A), out_splits, in_splits);
  at::Tensor w_A = cast_to(r.weight_TK.reshape({-1}).index_select(0, slot_A), x_TD.scalar_type());
  return torch::zeros_like(x_TD).index_add(0, token_A, y_back * w_A.unsqueeze(1));
}

}  // namespace moescope
