// trainer.h: the training loop behind `moescope train`.
// Per optimizer step: grad_accum micro-batches (bf16 or fp32 compute, fp32 masters, router and
// losses), loss = CE + sum of MoE balance/z terms; global-norm clipping; AdamW; then the
// aux-loss-free bias update from that step's counts (all micro-batches). A step whose loss or
// gradient is not finite is skipped (no update, no bias update) and counted; after
// train.max_nonfinite in a row the run stops, leaving its last good checkpoint untouched.
// Validation every eval_every steps (best checkpoint on improvement), latest checkpoint every
// ckpt_every steps, at the time limit, on SIGINT/SIGTERM and at the end.
// SIGINT/SIGTERM are honoured between micro-batches (a partial step is dropped and redone on
// resume) and between validation batches (the evaluation is abandoned, no record written);
// the worst-case stop latency is one micro-batch forward + backward (or one validation batch)
// plus the latest checkpoint write. No final evaluation after a signal.
// Data parallel (a run started by `moescope launch` or torchrun, dist::world() set): see
// train/data_parallel.h; rank 0 alone writes the run directory (config, logs, checkpoints);
// every rank runs the hooks (the microscope reduces its counts over ranks and writes on rank 0
// only; on_log's record is rank 0's alone); every rank evaluates the whole validation set.
// Before allocating, the memory estimate (model/resource_estimate.h) is printed and checked
// against --max-memory, or on the CPU against MemAvailable.
// A killed run: stale temp files are removed at start; --resume of a run stopped before its
// first checkpoint starts it again from step 0 (its metrics records are dropped); --resume of a
// finished run (step >= max_steps) writes nothing.
#pragma once
#include <functional>
#include <iosfwd>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/transformer.h"
#include "train/adamw.h"
#include "train/expert_shards.h"
#include "train/grad_sync.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "io/jsonl.h"
#include "data/dataset.h"

namespace moescope {

// Extension points for the layers above train (the microscope); all optional.
struct TrainHooks {
  std::function<void(int64_t step)> after_forward;                   // after each micro-batch forward
  std::function<void(int64_t step, nlohmann::json& record)> on_log;  // may add fields to the log record
  std::function<void(int64_t step)> before_eval;
  std::function<void()> eval_after_forward;  // after each validation batch forward
  std::function<void(int64_t step, nlohmann::json& record)> on_eval;
  std::function<void(int64_t step)> after_step;  // after the optimizer + bias update
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
  // max_memory_bytes: the --max-memory limit; 0 = MemAvailable (checked on the CPU only).
  // init_dir: a Hugging Face model directory whose weights start a new run (cfg.model must be
  // its translated config, train/hf_model_dir.h); the model keeps config.json's vocab_size.
  Trainer(Config cfg, std::string run_dir, bool resume, std::ostream& log, uint64_t max_memory_bytes = 0,
          std::string init_dir = "");
  ~Trainer();
  TrainSummary run();
  TrainHooks hooks;

  Transformer& model() { return model_; }
  AdamW& optimizer() { return *opt_; }
  const Config& config() const { return cfg_; }
  const Dataset& data() const { return *data_; }
  const TrainerState& state() const { return st_; }
  const std::string& run_dir() const { return run_dir_; }
  // Appends an event record (e.g. a remediation action) to RUN_DIR/metrics.jsonl; in a
  // data-parallel run rank 0's state is then broadcast at the end of the log interval.
  void log_event(const nlohmann::json& record);

 private:
  // The steps of run().
  struct StepResult {
    double loss = 0;       // mean cross-entropy over the micro-batches
    double grad_norm = 0;  // before clipping
    bool finite = true;
    bool interrupted = false;  // a signal between micro-batches: nothing applied
  };
  struct Interval {  // since the last log record
    double t_start = 0, loss = 0;
    int64_t tokens = 0, steps = 0;
  };
  StepResult train_step(double lr);  // grad_accum micro-batches, clipping, then the update if finite
  bool skip_nonfinite_step();        // counts a skipped step; true when the run must stop
  void log_interval(double lr, const StepResult& r, TrainSummary& sum);
  bool evaluate_now(TrainSummary& sum);  // validation, best checkpoint on improvement; false: interrupted
  double elapsed() const;                // training wall time, this process and before
  void save_latest();
  // The optimizer's router lr multipliers follow the routers' knobs (their one owner).
  void apply_router_lr_mults();
  // In the EP group of rank 0 (the one that gathers the experts for a checkpoint).
  bool rank0_ep_group() const { return dp_.rank() < cfg_.train.expert_parallel; }
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
  DataParallel dp_;
  std::unique_ptr<dist::Group> ep_sub_;       // the EP sub-group when train.expert_parallel < WORLD_SIZE
  std::unique_ptr<dist::Group> ep_replicas_;  // EP x DP: the ranks owning the same experts
  std::unique_ptr<ExpertShards> shards_;      // train.expert_parallel > 1: this rank's experts only
  std::unique_ptr<GradientSync> grad_sync_;   // after ep_replicas_ and shards_: its buckets use them
  bool state_changed_ = false;                // rank 0 logged an event (remediation) since the last sync
  // State of one run() call.
  std::set<int64_t> poison_;  // test_hooks::nan_loss_steps()
  double t_start_ = 0, base_elapsed_ = 0;
  Interval interval_;
  int64_t last_eval_step_ = -1, last_ckpt_step_ = -1;
  bool tty_ = false;
  std::vector<int64_t> in_, tg_;
};

}  // namespace moescope
