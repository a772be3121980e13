// dispatch.cpp: see dispatch.h. All sorting is vectorised (stable sorts, no per-token loops).
#include "ops/dispatch.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace moescope {

int64_t expert_capacity(double capacity_factor, int64_t T, int64_t K, int64_t E) {
  if (capacity_factor <= 0) return -1;
  return static_cast<int64_t>(std::ceil(capacity_factor * static_cast<double>(T * K) / static_cast<double>(E)));
}

DispatchPlan plan_dispatch(const at::Tensor& expert_TK, const at::Tensor& weight_TK, int64_t E, double capacity_factor,
                           DropPolicy policy) {
  TORCH_CHECK(expert_TK.dim() == 2, "plan_dispatch: expert_TK must be [T, K]");
  const int64_t T = expert_TK.size(0), K = expert_TK.size(1), A = T * K;
  auto expert_A = expert_TK.reshape({A});
  auto idx_opts = expert_A.options().dtype(torch::kLong);
  DispatchPlan plan;
  plan.capacity = expert_capacity(capacity_factor, T, K, E);

  auto routed_E = torch::bincount(expert_A, /*weights=*/{}, E).to(torch::kCPU);
  plan.routed_E.assign(routed_E.data_ptr<int64_t>(), routed_E.data_ptr<int64_t>() + E);

  at::Tensor order_A;  // permutation of the flat assignments, grouped by expert
  if (plan.capacity < 0) {
    order_A = std::get<1>(torch::sort(expert_A, /*stable=*/true, 0, false));
    plan.keep_TK = torch::ones({T, K}, expert_TK.options().dtype(torch::kBool));
  } else {
    // Priority order first, then a stable sort by expert keeps priority within each expert.
    at::Tensor prio_A;
    if (policy == DropPolicy::kScore) {
      prio_A = std::get<1>(torch::sort(weight_TK.detach().reshape({A}), /*stable=*/true, 0, /*descending=*/true));
    } else {
      prio_A = torch::arange(A, idx_opts).view({T, K}).t().reshape({A});  // slot-major, then position
    }
    auto by_expert = std::get<1>(torch::sort(expert_A.index_select(0, prio_A), /*stable=*/true, 0, false));
    auto full_order = prio_A.index_select(0, by_expert);
    auto sorted_expert = expert_A.index_select(0, full_order);
    auto counts = torch::bincount(expert_A, {}, E);
    auto starts = counts.cumsum(0) - counts;
    auto rank_A = torch::arange(A, idx_opts) - starts.index_select(0, sorted_expert);
    auto keep_sorted = rank_A < plan.capacity;
    order_A = full_order.masked_select(keep_sorted);
    auto keep_flat = torch::zeros({A}, expert_TK.options().dtype(torch::kBool));
    keep_flat.index_fill_(0, order_A, true);
    plan.keep_TK = keep_flat.view({T, K});
  }
  plan.slot_A = order_A;
  plan.token_A = torch::div(order_A, K, "floor");
  plan.offsets.assign(E + 1, 0);
  for (int64_t e = 0; e < E; ++e) {
    int64_t kept = plan.capacity < 0 ? plan.routed_E[e] : std::min(plan.routed_E[e], plan.capacity);
    plan.offsets[e + 1] = plan.offsets[e] + kept;
  }
  plan.n_dropped = A - plan.offsets[E];
  return plan;
}

}  // namespace moescope
