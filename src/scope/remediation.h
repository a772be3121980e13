// remediation.h: the opt-in escalation ladder (scope.remediate=true), per MoE layer.
// While a layer is collapsed or has dead experts / high MaxVio alerts, every `cooldown` log
// intervals it takes the next rung, bounded by the scope.max_* settings:
//   1 bias_rate:  enable the aux-loss-free bias (0.001) or multiply its rate by 4
//   2 jitter:     enable input jitter (eps 0.01) or double it
//   3 seq_aux:    enable the sequence-wise balance loss (alpha 1e-3) or multiply it by 4
//   4 reinit:     re-initialise dead experts from a perturbed copy (noise std 1% of the weight
//                 std) of the busiest expert, with zeroed optimizer moments and bias
// then starts again from rung 1 (rungs already at their bound are skipped). It stops as soon
// as the layer is healthy. Every action is returned as an event record for the run log.
#pragma once
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "model/moe.h"
#include "scope/metrics.h"
#include <functional>
#include <string>

namespace moescope {

class Remediator {
 public:
  explicit Remediator(const ScopeConfig& cfg) : cfg_(cfg) {}
  // `layer` is the transformer layer index; `unhealthy` whether it needs action now.
  // reset_moments(prefix) zeroes the optimizer moments of parameters named prefix*.
  using ResetFn = std::function<void(const std::string& prefix)>;
  std::vector<nlohmann::json> act(int64_t step, int64_t layer, bool unhealthy, MoELayerImpl& moe,
                                  const LoadMetrics& m, const ResetFn& reset_moments);

 private:
  bool apply_rung(int rung, int64_t step, int64_t layer, MoELayerImpl& moe, const LoadMetrics& m,
                  const ResetFn& reset_moments, std::vector<nlohmann::json>* events);
  struct State {
    int next_rung = 0;
    int64_t cooldown = 0;
  };
  ScopeConfig cfg_;
  std::map<int64_t, State> st_;
};

}  // namespace moescope
