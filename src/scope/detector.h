// detector.h: the collapse detector: rules over each MoE layer's per-interval load metrics
// (docs/metrics.md, "Collapse detector"). Torch-free; fed one log interval at a time.
//   low_entropy      load entropy_norm < entropy_floor                  critical
//   dominant_expert  max_i load_i > max_share                            critical
//   low_neff         N_eff < neff_fraction * E                           critical
//   dead_experts     the same experts received no slot                   warning
//   high_maxvio      MaxVio_batch > maxvio_ceiling                       warning
// each for `window` consecutive intervals; plus
//   entropy_trend    least-squares slope of the last trend_window entropies < trend_slope
//                    (early warning; only while no critical rule holds).
// A layer has *collapsed* while any critical rule has held for `window` intervals; the
// collapse began at the first interval of that streak. An alert fires when a streak reaches
// `window` (once per streak), and a "recovered" info alert when a collapsed layer is healthy.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "scope/metrics.h"

namespace moescope {

struct Alert {
  int64_t step = 0;        // the interval's step
  int64_t layer = 0;       // transformer layer index
  std::vector<int64_t> experts;
  std::string rule, severity;  // severity: critical | warning | info
  int64_t began_step = 0;  // first step of the streak
  nlohmann::json evidence;
  std::string fix;         // one-line suggestion
  nlohmann::json to_json() const;
};

class CollapseDetector {
 public:
  explicit CollapseDetector(const ScopeConfig& cfg) : cfg_(cfg) {}
  // One log interval of one layer; returns the alerts that fire now.
  std::vector<Alert> observe(int64_t step, int64_t layer, const LoadMetrics& m, double maxvio_batch);
  // "ok", "warning" (a rule holds but not yet for `window`, or a warning rule fired) or "collapsed".
  std::string status(int64_t layer) const;
  bool collapsed(int64_t layer) const { return status(layer) == "collapsed"; }
  // First step of the current collapse streak (-1 when not collapsed).
  int64_t collapse_began(int64_t layer) const;
  // Consecutive intervals (up to now) in which `rule` has held for this layer (0 if not).
  int64_t streak(int64_t layer, const std::string& rule) const;

 private:
  struct Streak {
    int64_t len = 0, began = 0;
    bool fired = false;
    std::vector<int64_t> experts;
  };
  struct LayerState {
    std::map<std::string, Streak> streaks;
    std::vector<double> entropy_hist;
    bool was_collapsed = false;
    bool trend_warned = false;
  };
  ScopeConfig cfg_;
  std::map<int64_t, LayerState> layers_;
};

}  // namespace moescope
