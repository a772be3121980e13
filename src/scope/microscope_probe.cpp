// microscope_probe.cpp: Microscope::probe_saturation (scope/microscope.h): router saturation, the
// top-k overlap of a fixed probe batch's routing with its previous sample.
#include "run/log_fields.h"
#include "scope/microscope.h"

namespace moescope {
namespace f = log_field;

nlohmann::json Microscope::probe_saturation() {
  // Routing of a fixed probe batch (the first validation windows) vs its previous sample.
  auto model = ctx_.model;
  const bool was = model->is_training();
  model->eval();
  {
    torch::NoGradGuard ng;
    model->forward(ctx_.probe_tokens);
  }
  if (was) model->train();
  nlohmann::json out = nlohmann::json::array();
  std::vector<at::Tensor> now;
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto cur = moe_[i]->last().expert_TK.to(torch::kCPU);
    now.push_back(cur);
    nlohmann::json v = nullptr;
    if (i < probe_prev_.size()) {
      const int64_t E = moe_[i]->cfg().n_routed, K = cur.size(1);
      auto a = torch::zeros({cur.size(0), E}).scatter_(1, cur, 1.0);
      auto b = torch::zeros({cur.size(0), E}).scatter_(1, probe_prev_[i], 1.0);
      v = ((a * b).sum(1) / double(K)).mean().item<double>();
    }
    out.push_back({{f::kLayer, layer_index_[i]}, {"topk_overlap", v}});
  }
  probe_prev_ = now;
  return out;
}

}  // namespace moescope
