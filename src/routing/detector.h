// detector.h: the collapse detector: rules over each MoE layer's per-interval load metrics
// (docs/metrics.md, "Ground truth" and "Collapse detector"). Torch-free; fed one log interval at
// a time. Every load rule is relative to a balanced layer of the same E and K, and holds only in
// a judged interval (C / E >= min_expert_slots):
//   low_neff         N_eff < neff_fraction * E                                  critical
//   low_entropy      entropy_norm < entropy_floor (absolute; 0 = off)            critical
//   dominant_expert  max_i c_i / tokens > dominant_token_share(max_share, K, E)  critical
//                    > imbalanced_token_share(dominance, max_share, K, E)        warning
//   starved_experts  experts with load_i < starved_ratio / E: >= 1 warning; critical from
//                    max(starved_experts, ceil(starved_fraction * E)) (2 of 8, 4 of 16, 32 of 128)
//   high_drop_rate   capacity drops / assignments > drop_warning warning, > drop_critical critical
//   high_maxvio      MaxVio_batch > maxvio_ceiling                              warning
// An alert fires when a rule has held at a severity for `window` consecutive intervals (once per
// streak); plus
//   entropy_trend    least-squares slope of the last trend_window entropies < trend_slope
//                    (early warning; only while not collapsed).
// Collapse, with hysteresis: a layer *enters* collapse when some critical collapse rule (the
// four load rules; not necessarily the same one) has held in each of `window` consecutive
// intervals; it began at the first of them. It *leaves* only after `exit_window` consecutive
// intervals in which none holds (then a "recovered" info alert). A collapse entered while no
// single critical rule has its own streak of `window` fires a "collapse" alert.
// Dropping (high_drop_rate critical), the same hysteresis on its own: never a collapse.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "routing/metrics.h"

namespace moescope {

// The layer statuses in order of severity (docs/metrics.md); status_level(s) is the index
// (TensorBoard's moe/layerN/status_level); an unknown name throws std::invalid_argument.
inline const std::vector<std::string> kStatuses = {"ok", "warning", "imbalanced", "dropping", "collapsed"};
int status_level(const std::string& status);

struct Alert {
  int64_t step = 0;   // the interval's step
  int64_t layer = 0;  // transformer layer index
  std::vector<int64_t> experts;
  std::string rule, severity;  // severity: critical | warning | info
  int64_t began_step = 0;      // first step of the streak
  nlohmann::json evidence;
  std::string fix;  // one-line suggestion
  nlohmann::json to_json() const;
};

// What the detector reads of one layer's log interval besides the load metrics.
struct IntervalSignals {
  double maxvio_batch = 0;  // mean per-step MaxVio
  double drop_rate = 0;     // dropped assignments / (K * tokens)
};

class CollapseDetector {
 public:
  explicit CollapseDetector(const ScopeConfig& cfg) : cfg_(cfg) {}
  // One log interval of one layer (m from load_metrics(counts, K)); returns the alerts that fire now.
  std::vector<Alert> observe(int64_t step, int64_t layer, const LoadMetrics& m, const IntervalSignals& sig);
  // The most severe of: "collapsed", "dropping" (see above), "imbalanced" (the dominant_expert
  // warning has held for `window` intervals), "warning" (a critical rule holds but its status is
  // not entered, or a warning rule has held for `window` intervals, or the entropy trend warns),
  // else "ok".
  std::string status(int64_t layer) const;
  bool collapsed(int64_t layer) const { return status(layer) == "collapsed"; }
  bool dropping(int64_t layer) const;  // in the dropping state (also while collapsed)
  // First step of the current collapse (-1 when not collapsed).
  int64_t collapse_began(int64_t layer) const;
  // Consecutive intervals (up to now) in which `rule` has held at any severity (0 if not).
  int64_t streak(int64_t layer, const std::string& rule) const;

 private:
  struct Streak {
    int64_t len = 0, began = 0;  // at any severity
    int64_t crit_len = 0, crit_began = 0;
    bool fired = false, crit_fired = false;
    std::vector<int64_t> experts;
  };
  // A layer-level condition with hysteresis: on after `window` intervals in a row in which it
  // holds (it began at the first of them), off after `exit_window` in a row in which it does not.
  struct Hysteresis {
    enum class Change { kNone, kEntered, kLeft };
    int64_t run = 0, run_began = 0;  // intervals in a row in which it holds
    int64_t calm = 0;                // intervals in a row in which it does not
    bool on = false;
    int64_t began = -1;  // first step of the current `on` (-1 when off)
    Change update(bool holds, int64_t step, int64_t window, int64_t exit_window);
  };
  struct LayerState {
    std::map<std::string, Streak> streaks;
    std::vector<double> entropy_hist;
    Hysteresis collapse;  // some critical rule holds
    Hysteresis dropping;  // capacity drops at the critical rate
    bool trend_warned = false;
  };
  ScopeConfig cfg_;
  std::map<int64_t, LayerState> layers_;
};

}  // namespace moescope
