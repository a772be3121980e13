// routing_log.h: what every front end does at a log interval, torch-free: per MoE layer the load
// metrics of its interval (routing/interval.h), the collapse detector (alerts appended to
// RUN_DIR/alerts.jsonl), the layer record of the train record's "moe" array, the pooled
// "moe_summary", and the TensorBoard scalars and load histograms (RUN_DIR/tb/). The C++ trainer's
// microscope (scope/microscope.h) and the Python package (python/) both log through it, so a
// run directory reads the same whoever wrote it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "io/jsonl.h"
#include "io/tfevents.h"
#include "routing/detector.h"
#include "routing/interval.h"
#include "routing/metrics.h"

namespace moescope {

struct RoutingLayer {
  int64_t layer = 0;    // transformer layer index (the record's "layer")
  int64_t experts = 0;  // E routed experts
  int64_t top_k = 1;    // K
};

class RoutingLog {
 public:
  // writer: this process writes alerts.jsonl (appending) and, with cfg.tensorboard, RUN_DIR/tb/;
  // a non-writer (a rank > 0) keeps neither. Throws std::invalid_argument for a layer with
  // E < 1 or K outside [1, E].
  RoutingLog(std::vector<RoutingLayer> layers, const ScopeConfig& cfg, const std::string& run_dir, bool writer);

  struct LayerOutcome {
    LoadMetrics m;
    double maxvio_batch = 0;
    std::vector<Alert> alerts;  // fired at this interval (already in alerts.jsonl)
  };
  // One log interval: acc[i] is layer i's interval; live_bias[i] its bias now (empty: none, or
  // live_bias itself empty); gradients: records carry the gradient norms. Adds "moe" and
  // "moe_summary" to `rec`.
  std::vector<LayerOutcome> log(int64_t step, const std::vector<LayerInterval>& acc,
                                const std::vector<std::vector<double>>& live_bias, bool gradients, nlohmann::json& rec);
  // Validation: the per-layer MaxVio_global (and the other load metrics) of counts[i]; adds "moe"
  // and "moe_summary" to an eval record.
  void log_eval(int64_t step, const std::vector<std::vector<int64_t>>& counts, nlohmann::json& rec);

  // A resumed run: drops alerts past `step` and reopens alerts.jsonl for appending.
  void truncate_alerts_after(int64_t step);

  const std::vector<RoutingLayer>& layers() const { return layers_; }
  CollapseDetector& detector() { return detector_; }
  const CollapseDetector& detector() const { return detector_; }
  TfEventsWriter* tensorboard() { return tb_.get(); }
  bool writer() const { return writer_; }

 private:
  void layer_to_tensorboard(int64_t step, const RoutingLayer& l, const std::vector<int64_t>& counts,
                            const LoadMetrics& m, const nlohmann::json& j);
  std::vector<RoutingLayer> layers_;
  ScopeConfig cfg_;
  std::string run_dir_;
  bool writer_;
  CollapseDetector detector_;
  std::unique_ptr<JsonlWriter> alerts_;
  std::unique_ptr<TfEventsWriter> tb_;
};

}  // namespace moescope
