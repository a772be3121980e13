// trainer.h: the training loop behind `moescope train`.
// Per optimizer step: grad_accum micro-batches (bf16 or fp32 compute, fp32 masters, router and
// losses), loss = CE + sum of MoE balance/z terms; global-norm clipping; AdamW; then the
// aux-loss-free bias update from that step's counts (all micro-batches). A step whose loss or
// gradient is not finite is skipped (no update, no bias update) and counted; after
// train.max_nonfinite in a row the run stops, leaving its last good checkpoint untouched.
// Validation every eval_every steps (best checkpoint on improvement), latest checkpoint every
// ckpt_every steps, at the time limit, on SIGINT/SIGTERM and at the end.
#pragma once
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "core/config.h"
#include "model/transformer.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "io/jsonl.h"
#include "train/dataset.h"

namespace moescope {

// Extension points for the layers above train (the microscope); all optional.
struct TrainHooks {
  std::function<void(int64_t step)> after_forward;                 // after each micro-batch forward
  std::function<void(int64_t step, nlohmann::json& record)> on_log;  // may add fields to the log record
  std::function<void(int64_t step)> before_eval;
  std::function<void()> eval_after_forward;                        // after each validation batch forward
  std::function<void(int64_t step, nlohmann::json& record)> on_eval;
  std::function<void(int64_t step)> after_step;                    // after the optimizer + bias update
  std::function<void(int64_t resumed_step)> on_resume;
};

struct TrainSummary {
  int exit_code = 0;  // 0 done, 3 stopped on non-finite steps, 130 interrupted
  int64_t steps = 0;
  double final_loss = 0, val_loss = 0, best_val_loss = 0, tokens_per_s = 0, wall_s = 0;
  int64_t skipped_steps = 0;
};

class Trainer {
 public:
  // With resume, RUN_DIR/config.json and checkpoints/latest are loaded; `cfg` then only
  // supplies train.* overrides (model.* and data.* must match the saved run).
  Trainer(Config cfg, std::string run_dir, bool resume, std::ostream& log);
  ~Trainer();
  TrainSummary run();
  TrainHooks hooks;

  Transformer& model() { return model_; }
  AdamW& optimizer() { return *opt_; }
  const Config& config() const { return cfg_; }
  const Dataset& data() const { return *data_; }
  const TrainerState& state() const { return st_; }
  const std::string& run_dir() const { return run_dir_; }
  // Appends an event record (e.g. a remediation action) to RUN_DIR/metrics.jsonl.
  void log_event(const nlohmann::json& record);

 private:
  void save_latest();
  Config cfg_;
  std::string run_dir_;
  std::ostream& log_;
  std::unique_ptr<Dataset> data_;
  Transformer model_{nullptr};
  std::unique_ptr<AdamW> opt_;
  TrainerState st_;
  torch::Device device_{torch::kCPU};
  bool resumed_ = false;
  std::unique_ptr<JsonlWriter> metrics_;
};

}  // namespace moescope
