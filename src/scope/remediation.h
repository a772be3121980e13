// remediation.h: the opt-in escalation ladder (scope.remediate=true), per MoE layer.
// While a layer is unhealthy (collapsed; starved experts or capacity drops above
// drop_warning for `window` intervals; or MaxVio above the ceiling for `window` intervals while
// the layer has no bias balancing at all), every `cooldown` log intervals it takes the next rung, bounded by the
// scope.max_* settings:
//   1 bias_rate:  enable the aux-loss-free bias (0.001) or multiply its rate by 4
//   2 jitter:     enable input jitter (eps 0.01) or double it
//   3 seq_aux:    enable the sequence-wise balance loss (alpha 1e-3) or multiply it by 4
//   4 z_loss:     enable the router z-loss (beta 1e-3) or multiply it by 4
//   5 router_lr:  divide a raised router learning-rate multiplier by 4, never below 1 (the
//                 model's own lr); skipped when the router already trains at the model's lr
//   6 reinit:     re-initialise starved experts (load < starved_ratio / E, dead included) from a
//                 perturbed copy (noise std 1% of the weight std) of the busiest expert, with
//                 zeroed optimizer moments and bias
// then starts again from rung 1 (rungs already at their bound are skipped). It stops as soon
// as the layer is healthy. Every action is returned as an event record for the run log.
// A layer that is not unhealthy but whose MaxVio_batch is above the ceiling while its bias is
// on gets tuned instead (same cooldown; the record carries `reason`), the first that applies:
//   router_lr       its router trains at a raised lr: multiplier / 4, not below 1 (a router
//                   that moves too far per step makes routing jump between steps);
//   z_loss          its router is saturated (mean per-token router entropy below
//                   scope.saturated_router_entropy): enable or x4 the z-loss (bound
//                   max_z_loss_beta). Scores near 0/1 leave the bias no fine control: a bias
//                   large enough to move tokens moves whole groups of them at once;
//   bias_rate_tune  doubled (up to max_bias_update_rate) when the interval's own load is
//                   unbalanced too (interval MaxVio above the ceiling), halved (down to
//                   kMinBiasRate) when the interval is balanced but single steps are not:
//                   sign updates at too large a rate oscillate.
// The decisions (rungs, values, the tuning branch, the replay of a logged interval) are the
// torch-free routing/ladder.h; this adapter applies them to moescope's own MoE layer: every knob
// through RouterImpl::set_knob (the router lr multiplier reaches the optimizer through the
// trainer, which applies the knob before every optimizer step), re-initialisation on the weights.
// Resume: the checkpoint holds the knobs; the run log is the ladder's memory. replay_interval()
// restores rung and cooldown (and, for a checkpoint written before the knobs were saved, the
// knobs too, from the logged `to` values), so a resumed run continues the ladder exactly where
// the killed one was.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "model/moe.h"
#include "routing/ladder.h"
#include "routing/metrics.h"

namespace moescope {

// What the ladder may do to the optimizer. The cli wires it to the trainer's AdamW (scope does
// not depend on train); it may be empty (then re-initialised experts keep their moments).
struct OptimizerHooks {
  std::function<void(const std::string& prefix)> reset_moments;  // zero the moments of prefix*
};

class Remediator {
 public:
  explicit Remediator(const ScopeConfig& cfg) : cfg_(cfg), ladder_(cfg) {}
  // `layer` is the transformer layer index; `unhealthy` whether it needs action now.
  // m: the interval's load metrics; maxvio_batch: the interval's mean per-step MaxVio;
  // router_entropy: the interval's mean normalised entropy of each token's router distribution.
  std::vector<nlohmann::json> act(int64_t step, int64_t layer, bool unhealthy, MoELayerImpl& moe, const LoadMetrics& m,
                                  double maxvio_batch, double router_entropy, const OptimizerHooks& opt);
  // Replays one logged interval of `layer`: `events` are its remediation records (from the
  // run log) at that interval's step, in order. Weights, optimizer moments and (from this
  // version on) the router knobs need no replay: the checkpoint has them. `restore_knobs` sets
  // the knobs from the log too, for a checkpoint written without them.
  void replay_interval(int64_t layer, const std::vector<nlohmann::json>& events, MoELayerImpl& moe, bool restore_knobs);
  static constexpr int kRungs = Ladder::kRungs;

 private:
  ScopeConfig cfg_;
  Ladder ladder_;
};

}  // namespace moescope
