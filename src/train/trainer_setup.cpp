// trainer_setup.cpp: the Trainer's constructor (train/trainer.h): everything before the first
// step: the run directory opened (train/run_start.h), the ranks and their groups, the data,
// the device, threads and dtype, the memory check, the model (from --init or drawn), the
// optimizer and gradient sync, and a resume's checkpoint and log.
#include "train/trainer.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "core/host_memory.h"
#include "core/threads.h"
#include "dist/backend.h"
#include "io/jsonl.h"
#include "model/flops.h"
#include "model/hf_weights_load.h"
#include "model/resource_estimate.h"
#include "ops/runtime.h"
#include "run/log_fields.h"
#include "train/dtype_choice.h"
#include "train/loaded_run.h"
#include "train/run_start.h"

namespace moescope {
namespace fs = std::filesystem;

Trainer::Trainer(Config cfg, std::string run_dir, bool resume, std::ostream& log, uint64_t max_memory_bytes,
                 std::string init_dir)
    : cfg_(std::move(cfg)), run_dir_(std::move(run_dir)), log_(log), resumed_(resume), dp_(dist::world()) {
  if (resume && !init_dir.empty())
    throw std::invalid_argument("train: --init starts a new run; it cannot be combined with --resume");
  if (fs::exists(run_dir_) && !fs::is_directory(run_dir_))
    throw std::runtime_error("--out '" + run_dir_ + "' exists and is not a directory");
  dp_.check_batch(cfg_.train.batch_size);
  const int64_t ep = cfg_.train.expert_parallel;
  if (ep > 1 && (dp_.world() % ep != 0 || cfg_.model.moe.n_routed % ep != 0))
    throw std::invalid_argument("train.expert_parallel = " + std::to_string(ep) +
                                " needs a WORLD_SIZE divisible by it (now " + std::to_string(dp_.world()) +
                                ") and moe.n_routed (" + std::to_string(cfg_.model.moe.n_routed) + ") divisible by it");
  fs::create_directories(run_dir_);
  if (dp_.root()) remove_stale_temps(run_dir_, log_);
  const RunDirStart start = open_run_dir(run_dir_, resume, cfg_, log_);
  const double saved_router_lr_mult = start.saved_router_lr_mult;
  const bool from_scratch = start.from_scratch;
  if (from_scratch) resumed_ = false;
  // Every rank has read the run directory; from here on rank 0 alone writes it. The tokenizer
  // and the token cache are built by rank 0 first, then read by the others.
  dp_.check_same_config(cfg_.fields().to_json().dump());
  // EP x DP: ranks [k P, (k + 1) P) form expert-parallel group k (P = train.expert_parallel).
  // The ranks at the same position of every EP group own the same experts: their replicas group.
  if (ep > 1 && ep < dp_.world()) {
    ep_sub_ = dp_.group()->split(static_cast<int>(dp_.rank() / ep));
    ep_replicas_ = dp_.group()->split(static_cast<int>(dp_.rank() % ep));
  }
  if (!dp_.root()) dp_.barrier();
  data_ = std::make_unique<Dataset>(Dataset::prepare(cfg_.data, run_dir_, log_));
  if (dp_.root()) dp_.barrier();
  // An imported model keeps config.json's vocab_size (often padded past the tokenizer's), also
  // when its run is resumed.
  if (!init_dir.empty() || (resume && cfg_.model.vocab_size > data_->vocab_size())) {
    if (data_->vocab_size() > cfg_.model.vocab_size)
      throw std::runtime_error("tokenizer vocabulary (" + std::to_string(data_->vocab_size()) +
                               ") exceeds the model's vocab_size (" + std::to_string(cfg_.model.vocab_size) + ")");
  } else {
    cfg_.model.vocab_size = data_->vocab_size();
  }
  cfg_.validate();
  check_splits(*data_, cfg_);
  const std::string device = resolve_device(enum_name(cfg_.train.device));
  // A multi-process run's collectives go over Gloo on the CPU and NCCL on CUDA; a build without
  // NCCL refuses cuda here, before anything is allocated (dist/backend.h).
  if (dp_.active()) dist::backend_for_device(device);
  // train.dtype is resolved once and saved resolved: a resumed run keeps its dtype unless
  // --set train.dtype names another one explicitly.
  if (resume && cfg_.train.dtype == DType::kAuto) cfg_.train.dtype = read_run_config(run_dir_).train.dtype;
  if (device == "cpu") {
    const double step_gflop = train_flops_per_token(cfg_.model, cfg_.train.seq_len) *
                              static_cast<double>(cfg_.train.batch_size * cfg_.train.seq_len) / 1e9;
    const ThreadChoice th = choose_train_threads(static_cast<int>(cfg_.train.threads), std::getenv("OMP_NUM_THREADS"),
                                                 step_gflop, static_cast<int>(std::thread::hardware_concurrency()));
    set_compute_threads(th.threads);
    log_ << th.reason << "\n";
  }
  cfg_.train.dtype = resolve_train_dtype(cfg_.train.dtype, device, log_);
  // Before anything is allocated (and before a new run is recorded): does it fit?
  const ResourceEstimate est =
      estimate_resources(cfg_.model, cfg_.train, dp_.world(), static_cast<int>(std::max<int64_t>(1, ep)));
  log_ << "memory estimate: " << est.summary() << "\n";
  if (max_memory_bytes > 0) check_fits_memory(est, static_cast<double>(max_memory_bytes), "--max-memory");
  else if (device == "cpu")
    check_fits_memory(est, static_cast<double>(available_memory_bytes()), "MemAvailable, /proc/meminfo");
  if (!resume && dp_.root()) write_run_config(run_dir_, cfg_);

  seed_everything(static_cast<uint64_t>(cfg_.train.seed));
  device_ = to_device(device);
  model_ = Transformer(cfg_.model);
  if (!init_dir.empty()) {
    const HfModelConfig hf = read_hf_config(init_dir);
    const int64_t n = load_hf_weights(init_dir, hf, model_);
    log_ << "init: " << n << " tensors from " << init_dir << " (model_type " << hf.model_type << ")\n";
  }
  model_->to(device_);
  model_->compute_dtype = compute_dtype(cfg_.train.dtype);
  const int64_t n_params = model_->num_params(), n_active = model_->num_active_params();
  // EP: from here on this rank holds only its own routed experts (and their optimizer state).
  if (ep > 1)
    shards_ =
        std::make_unique<ExpertShards>(model_, ep_sub_ ? *ep_sub_ : *dp_.group(), ep_replicas_.get(), dp_.world());
  opt_ = std::make_unique<AdamW>(adamw_params(*model_, cfg_.train.decay_embeddings, cfg_.train.router_lr_mult),
                                 cfg_.train.beta1, cfg_.train.beta2, cfg_.train.adam_eps, cfg_.train.weight_decay);
  if (shards_) shards_->attach(*opt_);
  grad_sync_ = std::make_unique<GradientSync>(dp_, model_, shards_.get(), cfg_.train.overlap_grad_sync);
  for (auto* l : model_->moe_layers()) l->gate->set_knob(Knob::kLrMult, cfg_.train.router_lr_mult);
  if (resume && !from_scratch) {
    // A checkpoint holds every expert: read whole, then this rank keeps its own (any EP size).
    if (shards_) shards_->allocate(ExpertShards::kWeights | ExpertShards::kMoments);
    st_ = load_checkpoint(latest_dir(run_dir_), model_, opt_.get());
    if (shards_) shards_->release();
    // The checkpoint's knobs win, except a router lr multiplier set anew for this resume.
    if (cfg_.train.router_lr_mult != saved_router_lr_mult)
      for (auto* l : model_->moe_layers()) l->gate->set_knob(Knob::kLrMult, cfg_.train.router_lr_mult);
    if (dp_.root()) truncate_jsonl_after(metrics_path(run_dir_), log_field::kStep, st_.step);
    log_ << "resumed " << run_dir_ << " at step " << st_.step << "\n";
  } else if (from_scratch) {
    if (dp_.root()) truncate_jsonl_after(metrics_path(run_dir_), log_field::kStep, -1);  // the lost steps are redone
  }
  log_ << "model: " << n_params << " parameters (" << n_active << " active per token), " << cfg_.model.n_moe_layers()
       << " MoE layers, device " << device_ << ", compute " << cfg_.train.dtype
       << (dp_.active() ? ", data parallel over " + std::to_string(dp_.world()) + " ranks" : "") << "\n";
  if (shards_)
    log_ << "expert parallel " << ep << ": rank 0 holds routed experts [" << shards_->first() << ", "
         << shards_->first() + shards_->count() << ") of each MoE layer, " << model_->num_params() << " parameters\n";
}

}  // namespace moescope
