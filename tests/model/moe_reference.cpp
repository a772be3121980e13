// moe_reference.cpp: see moe_reference.h.
#include "model/moe_reference.h"

#include "ops/dispatch_reference.h"

#include <algorithm>
#include <cmath>

namespace moescope {

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
