// ladder.h: the remediation ladder's decisions (torch-free): which rung a layer takes at a log
// interval and the knob's new value, or which experts to re-initialise from which. Acting on a
// model stays in its adapter (scope/remediation.h for moescope's own model, the Python package
// for a transformers router with e_score_correction_bias). The ladder, its bounds and its
// tuning branch are described in scope/remediation.h and docs/metrics.md.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "routing/detector.h"
#include "routing/metrics.h"
#include "routing/router_knobs.h"

namespace moescope {

inline constexpr double kMinBiasRate = 1e-4;     // bias_rate_tune never goes below this
inline constexpr double kMinRouterLrMult = 1.0;  // router_lr never goes below the model's lr

// One decision. A knob decision sets `knob` from `from` to `to`; a re-initialisation
// (reinit == true) copies expert `from_expert` (perturbed) over `experts`.
struct LadderAction {
  std::string action;
  bool reinit = false;
  Knob knob = Knob::kBiasRate;
  double from = 0, to = 0;
  std::string reason;  // tuning branch only: imbalance | oscillation | saturated
  std::vector<int64_t> experts;
  int64_t from_expert = -1;
  // The run-log record {"type": "remediation", ...} of this action.
  nlohmann::json event(int64_t step, int64_t layer) const;
};

// Whether `layer` needs the ladder now (collapsed; starved experts or capacity drops for `window`
// intervals; MaxVio above the ceiling for `window` intervals while it has no bias balancing).
bool ladder_unhealthy(const CollapseDetector& d, int64_t layer, bool bias_balance, const ScopeConfig& cfg);

class Ladder {
 public:
  explicit Ladder(const ScopeConfig& cfg) : cfg_(cfg) {}
  static constexpr int kRungs = 6;
  // One log interval of `layer` (the transformer layer index): the action to take, if any.
  // knobs: the router's knobs now; m: the interval's load metrics; maxvio_batch: its mean
  // per-step MaxVio; router_entropy: its mean normalised per-token router entropy.
  std::optional<LadderAction> decide(int64_t layer, bool unhealthy, const RouterKnobs& knobs, const LoadMetrics& m,
                                     double maxvio_batch, double router_entropy);
  // Replays one logged interval of `layer` (its remediation records, in order): restores rung
  // and cooldown; with knob_values, returns the knob values the records set (their `to`; a
  // re-initialisation sets none).
  std::vector<std::pair<Knob, double>> replay_interval(int64_t layer, const std::vector<nlohmann::json>& events,
                                                       bool knob_values);

 private:
  struct State {
    int next_rung = 0;
    int64_t cooldown = 0;
  };
  ScopeConfig cfg_;
  std::map<int64_t, State> st_;
};

}  // namespace moescope
