// microscope.h: routing metrics from the real top-k decisions, on every training run.
// An adapter of the torch-free routing library (routing/): it reads moescope's own model into
// the library's plain arrays, which computes every metric, the records, alerts and the ladder's
// decisions; acting on the model stays here (scope/remediation.h).
// The cli wires it to the trainer's hooks (scope does not depend on train). After each
// micro-batch forward it reads every MoE layer's
// RoutingRecord (model/moe.h: the decisions actually used, counted once even under
// activation recomputation) into per-layer interval accumulators; at each log interval it
// writes the layer metrics (docs/metrics.md) into the train record of RUN_DIR/metrics.jsonl,
// feeds the collapse detector (alerts -> RUN_DIR/alerts.jsonl and the console), runs the
// remediation ladder when enabled, and mirrors scalars and load histograms to TensorBoard
// (RUN_DIR/tb/). At each evaluation it adds MaxVio_global over the validation set.
// Multi-process run (ScopeContext::group set): every rank runs a Microscope and accumulates its
// own tokens' routing; at each log interval the accumulators are summed over ranks (logit_max:
// max), so every metric is the global batch's, as in one process; rank 0 alone then runs the
// detector and the remediation ladder (the trainer broadcasts rank 0's state when it acted) and
// writes alerts, TensorBoard and the record. Validation counts need no reduction (every rank
// evaluates the whole validation set), nor does the probe (one fixed batch, run by rank 0).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/jsonl.h"
#include "io/tfevents.h"
#include "routing/detector.h"
#include "routing/interval.h"
#include "routing/metrics.h"
#include "routing/routing_log.h"
#include "scope/remediation.h"
#include "scope/routing_observation.h"
#include "model/transformer.h"

namespace moescope {
namespace dist {
class Group;
}

// What the microscope needs from the training run.
struct ScopeContext {
  Transformer model{nullptr};
  std::string run_dir;
  int64_t log_every = 10, max_steps = 0;
  at::Tensor probe_tokens;  // [B, S] fixed probe batch (router saturation), on the model's device
  std::function<void(const nlohmann::json&)> log_event;  // an event record into the run log
  OptimizerHooks optimizer;                              // what the remediation ladder may do to the optimizer
  bool knobs_in_checkpoint = false;                      // a resumed run's checkpoint restored the router knobs
  // Inference (`scope --model`, scope/corpus_scope.h): no optimizer, no gradients, no probe
  // batch. Records leave out the gradient norms and the probe's saturation; a "step" is a chunk.
  bool forward_only = false;
  dist::Group* group = nullptr;  // multi-process: the world group (every rank's Microscope joins)
};

class Microscope {
 public:
  Microscope(ScopeContext ctx, const ScopeConfig& cfg, std::ostream& console);
  void observe_forward();  // after every training micro-batch forward
  // The same from observations (one per MoE layer, in order) instead of the layers' last().
  void observe(const std::vector<RoutingObservation>& layers);
  void after_step(int64_t step);                   // after the optimizer step and bias update
  void on_log(int64_t step, nlohmann::json& rec);  // adds "moe" (and "saturation") to a train record
  void before_eval();
  void eval_after_forward();
  void eval_observe(const std::vector<RoutingObservation>& layers);
  void on_eval(int64_t step, nlohmann::json& rec);  // adds per-layer MaxVio_global
  // A resumed run (the trainer has already dropped run-log records past `step`): drops
  // alerts past `step`, then replays the run log's train and remediation records through the
  // detector and the ladder, so streaks, fired alerts, rungs and cooldowns are as they were at
  // the checkpoint (the router knobs too, when the checkpoint predates saved knobs). (Router saturation restarts: the
  // probe routing of the previous sample is not in the log.)
  void on_resume(int64_t step);
  const CollapseDetector& detector() const { return log_->detector(); }

 private:
  nlohmann::json probe_saturation();
  // Multi-process: the interval's accumulators summed over ranks (microscope_ranks.cpp); and
  // after a resume, rank 0's interval counter on every rank (it decides co-activation sampling).
  void reduce_interval();
  void share_interval_counter();
  void reset_interval();
  std::vector<double> live_bias(size_t i) const;  // MoE layer i's bias now
  void report_alerts(int64_t step, int64_t layer, const std::vector<Alert>& alerts);
  void remediate(int64_t step, size_t i, const LoadMetrics& m, double maxvio_batch, double router_entropy);
  void train_to_tensorboard(int64_t step, const nlohmann::json& rec);

  ScopeContext ctx_;
  ScopeConfig cfg_;
  std::ostream& console_;
  bool writer_ = true;  // rank 0 (or a single process): detector, remediation, files
  std::vector<MoELayerImpl*> moe_;
  std::vector<int64_t> layer_index_;  // transformer layer of each MoE layer
  std::vector<LayerInterval> acc_;
  std::vector<std::vector<int64_t>> val_counts_;  // per MoE layer, over the current evaluation
  std::unique_ptr<RoutingLog> log_;               // metrics, detector, alerts.jsonl and TensorBoard
  Remediator remediator_;
  int64_t interval_ = 0;
  bool coact_now_ = false;
  std::vector<at::Tensor> probe_prev_;  // expert_TK of the probe batch at the previous sample
};

}  // namespace moescope
