// moe_reference.cpp: see moe_reference.h.
#include "model/moe_reference.h"

#include <algorithm>
#include <cmath>

namespace moescope {

at::Tensor reference_keep_mask(const at::Tensor& expert_TK, const at::Tensor& weight_TK, int64_t E,
                               double capacity_factor, DropPolicy policy) {
  auto ex = expert_TK.to(torch::kCPU).contiguous();
  auto w = weight_TK.detach().to(torch::kCPU).to(torch::kDouble).contiguous();
  const int64_t T = ex.size(0), K = ex.size(1);
  auto keep = torch::ones({T, K}, torch::kBool);
  if (capacity_factor <= 0) return keep;
  const int64_t cap = static_cast<int64_t>(std::ceil(capacity_factor * double(T * K) / double(E)));
  auto ea = ex.accessor<int64_t, 2>();
  auto wa = w.accessor<double, 2>();
  auto ka = keep.accessor<bool, 2>();
  for (int64_t e = 0; e < E; ++e) {
    std::vector<std::pair<int64_t, int64_t>> mine;  // (t, j)
    for (int64_t j = 0; j < K; ++j)
      for (int64_t t = 0; t < T; ++t)
        if (ea[t][j] == e) mine.emplace_back(t, j);
    if (policy == DropPolicy::kScore) {
      std::stable_sort(mine.begin(), mine.end(), [&](auto& a, auto& b) {
        return wa[a.first][a.second] > wa[b.first][b.second];
      });
    }  // kPosition: already slot-major, then by token
    for (size_t i = static_cast<size_t>(cap); i < mine.size(); ++i) ka[mine[i].first][mine[i].second] = false;
  }
  return keep;
}

at::Tensor moe_reference_forward(MoELayerImpl& layer, const at::Tensor& x_BSD, at::Tensor* keep_out) {
  const auto& cfg = layer.cfg();
  auto x_TD = x_BSD.reshape({-1, x_BSD.size(-1)});
  Routing r = layer.gate->forward(x_BSD);
  auto keep_TK = reference_keep_mask(r.expert_TK, r.weight_TK, cfg.n_routed, cfg.capacity_factor, cfg.drop_policy)
                     .to(x_TD.device());
  if (keep_out) *keep_out = keep_TK;
  auto y_TD = torch::zeros_like(x_TD);
  for (int64_t e = 0; e < cfg.n_routed; ++e) {
    auto mask_TK = r.expert_TK.eq(e).logical_and(keep_TK).to(r.weight_TK.scalar_type());
    auto w_T = (r.weight_TK * mask_TK).sum(1).to(x_TD.scalar_type());  // 0 where e not chosen/kept
    y_TD = y_TD + w_T.unsqueeze(1) * layer.experts[e]->as<SwiGLUMlpImpl>()->forward(x_TD);
  }
  if (!layer.shared_experts.is_empty()) y_TD = y_TD + layer.shared_experts->forward(x_TD);
  return y_TD.view(x_BSD.sizes());
}

}  // namespace moescope
