// remediation.cpp: see remediation.h. The decisions are routing/ladder.h's; this applies them.
#include "scope/remediation.h"

#include "model/param_names.h"

namespace moescope {

std::vector<nlohmann::json> Remediator::act(int64_t step, int64_t layer, bool unhealthy, MoELayerImpl& moe,
                                            const LoadMetrics& m, double maxvio_batch, double router_entropy,
                                            const OptimizerHooks& opt) {
  std::vector<nlohmann::json> events;
  const auto a = ladder_.decide(layer, unhealthy, moe.gate->knobs(), m, maxvio_batch, router_entropy);
  if (!a) return events;
  if (a->reinit) {
    torch::NoGradGuard ng;
    auto* src = moe.experts[a->from_expert]->as<SwiGLUMlpImpl>();
    for (int64_t e : a->experts) {
      auto* dst = moe.experts[e]->as<SwiGLUMlpImpl>();
      for (auto [d, s] : {std::pair{dst->gate_proj->weight, src->gate_proj->weight},
                          std::pair{dst->up_proj->weight, src->up_proj->weight},
                          std::pair{dst->down_proj->weight, src->down_proj->weight}})
        d.copy_(s + torch::randn_like(s) * (0.01 * s.std().item<double>()));
      moe.gate->bias[e] = 0.0;
      if (opt.reset_moments) opt.reset_moments(expert_prefix(layer, e));
    }
  } else {
    moe.gate->set_knob(a->knob, a->to);
  }
  events.push_back(a->event(step, layer));
  return events;
}

void Remediator::replay_interval(int64_t layer, const std::vector<nlohmann::json>& events, MoELayerImpl& moe,
                                 bool restore_knobs) {
  for (const auto& [knob, value] : ladder_.replay_interval(layer, events, restore_knobs))
    moe.gate->set_knob(knob, value);
}

}  // namespace moescope
