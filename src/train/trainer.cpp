// trainer.cpp: see trainer.h.
#include "train/trainer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "dist/backend.h"
#include "dist/collectives.h"
#include "ops/runtime.h"
#include "core/threads.h"
#include "model/flops.h"
#include "model/param_names.h"
#include "run/log_fields.h"
#include "io/atomic_file.h"
#include "io/jsonl.h"
#include "io/remove_tree.h"
#include "core/host_memory.h"
#include "model/resource_estimate.h"
#include "model/tensor_io.h"
#include "train/dtype_choice.h"
#include "train/evaluate.h"
#include "model/hf_weights_load.h"
#include "train/loaded_run.h"
#include "train/run_start.h"
#include "train/schedule.h"
#include "train/test_hooks.h"

namespace moescope {
namespace fs = std::filesystem;
namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

}  // namespace

Trainer::Trainer(Config cfg, std::string run_dir, bool resume, std::ostream& log, uint64_t max_memory_bytes,
                 std::string init_dir)
    : cfg_(std::move(cfg)), run_dir_(std::move(run_dir)), log_(log), resumed_(resume), dp_(dist::world()) {
  if (resume && !init_dir.empty()) throw std::invalid_argument("train: --init starts a new run; it cannot be combined with --resume");
  if (fs::exists(run_dir_) && !fs::is_directory(run_dir_))
    throw std::runtime_error("--out '" + run_dir_ + "' exists and is not a directory");
  dp_.check_batch(cfg_.train.batch_size);
  const int64_t ep = cfg_.train.expert_parallel;
  if (ep > 1 && (dp_.world() % ep != 0 || cfg_.model.moe.n_routed % ep != 0))
    throw std::invalid_argument("train.expert_parallel = " + std::to_string(ep) + " needs a WORLD_SIZE divisible by it (now " +
                                std::to_string(dp_.world()) + ") and moe.n_routed (" + std::to_string(cfg_.model.moe.n_routed) +
                                ") divisible by it");
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
      throw std::runtime_error("tokenizer vocabulary (" + std::to_string(data_->vocab_size()) + ") exceeds the model's vocab_size (" +
                               std::to_string(cfg_.model.vocab_size) + ")");
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
  const ResourceEstimate est = estimate_resources(cfg_.model, cfg_.train, dp_.world(), static_cast<int>(std::max<int64_t>(1, ep)));
  log_ << "memory estimate: " << est.summary() << "\n";
  if (max_memory_bytes > 0) check_fits_memory(est, static_cast<double>(max_memory_bytes), "--max-memory");
  else if (device == "cpu") check_fits_memory(est, static_cast<double>(available_memory_bytes()), "MemAvailable, /proc/meminfo");
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
  if (ep > 1) shards_ = std::make_unique<ExpertShards>(model_, ep_sub_ ? *ep_sub_ : *dp_.group(), ep_replicas_.get(), dp_.world());
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
  log_ << "model: " << n_params << " parameters (" << n_active
       << " active per token), " << cfg_.model.n_moe_layers() << " MoE layers, device " << device_ << ", compute "
       << cfg_.train.dtype << (dp_.active() ? ", data parallel over " + std::to_string(dp_.world()) + " ranks" : "") << "\n";
  if (shards_)
    log_ << "expert parallel " << ep << ": rank 0 holds routed experts [" << shards_->first() << ", "
         << shards_->first() + shards_->count() << ") of each MoE layer, " << model_->num_params() << " parameters\n";
}

void Trainer::apply_router_lr_mults() {
  auto& layers = *model_->layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto* blk = layers[l]->as<BlockImpl>();
    if (!blk->is_moe()) continue;
    const double m = blk->moe->gate->knobs().lr_mult;
    const std::string name = router_weight_name(static_cast<int64_t>(l));
    if (opt_->lr_mult(name) != m) opt_->set_lr_mult(name, m);
  }
}

void Trainer::log_event(const nlohmann::json& record) {
  if (metrics_) metrics_->write(record);
  state_changed_ = true;
}

Trainer::~Trainer() = default;

void Trainer::save_latest() {
  nlohmann::json cj = cfg_.fields().to_json();
  {
    FullExperts full(rank0_ep_group() ? shards_.get() : nullptr, ExpertShards::kWeights | ExpertShards::kMoments, 0);
    if (dp_.root()) save_checkpoint(latest_dir(run_dir_), model_, opt_.get(), st_, cj);
  }
  last_ckpt_step_ = st_.step;
}

double Trainer::elapsed() const { return base_elapsed_ + (now_s() - t_start_); }

Trainer::StepResult Trainer::train_step(double lr) {
  const auto& tc = cfg_.train;
  const int64_t B = tc.batch_size / dp_.world(), S = tc.seq_len;  // this rank's rows of the global micro-batch
  StepResult r;
  dist::GlobalBatchScope global_batch(dp_.group());
  dist::ExpertParallelScope expert_parallel(ep_sub_ ? ep_sub_.get() : tc.expert_parallel > 1 ? dp_.group() : nullptr);
  opt_->zero_grad();
  const int64_t micro_start = st_.micro_index;
  at::Tensor rng_start;
  if (tc.grad_accum > 1) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng_start = gen.get_state();
  }
  for (int64_t m = 0; m < tc.grad_accum; ++m) {
    if (m > 0 && dp_.any(g_signal != 0)) {
      // A stop between micro-batches drops the partial step: the data position, the RNG and
      // the routers' pending counts go back to the start of the step, which a resume redoes.
      st_.micro_index = micro_start;
      opt_->zero_grad();
      for (auto* l : model_->moe_layers()) l->set_pending_counts(torch::zeros_like(l->pending_counts()));
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_start);
      r.interrupted = true;
      return r;
    }
    test_hooks::crash_point("micro_batch");
    data_->train_batch_rows(static_cast<uint64_t>(tc.seed), static_cast<uint64_t>(st_.micro_index), dp_.rank() * B, B, S,
                            &in_, &tg_);
    ++st_.micro_index;
    auto inp = torch::from_blob(in_.data(), {B, S}, torch::kLong).to(device_);
    auto tgt = torch::from_blob(tg_.data(), {B, S}, torch::kLong).to(device_);
    auto out = model_->forward(inp);
    if (hooks.after_forward) hooks.after_forward(st_.step);
    auto ce = lm_loss(out.logits_BSV, tgt);
    auto loss = ce + out.aux_loss.to(at::kFloat);
    if (poison_.count(st_.step)) loss = loss * std::numeric_limits<float>::quiet_NaN();
    if (m == tc.grad_accum - 1) grad_sync_->arm();  // the last backward: the gradient all-reduce starts during it
    (loss / static_cast<double>(tc.grad_accum)).backward();
    const double l = loss.item<double>();
    r.finite = r.finite && std::isfinite(l);
    r.loss += ce.item<double>() / static_cast<double>(tc.grad_accum);
  }
  grad_sync_->finish();  // from here on every rank holds the same gradients (EP: of the parameters it holds)
  if (dp_.active()) {
    r.finite = !dp_.any(!r.finite);
    r.loss = dp_.mean(r.loss);
  }
  const double max_norm = tc.grad_clip > 0 ? tc.grad_clip : std::numeric_limits<double>::infinity();
  r.grad_norm = shards_ ? shards_->clip_grad_norm(max_norm) : torch::nn::utils::clip_grad_norm_(model_->parameters(), max_norm);
  r.finite = r.finite && std::isfinite(r.grad_norm);
  if (r.finite) {
    st_.consecutive_nonfinite = 0;
    apply_router_lr_mults();
    opt_->step(lr);
    dp_.sum_router_counts(model_);
    model_->update_router_biases();
  }
  return r;
}

bool Trainer::skip_nonfinite_step() {
  const auto& tc = cfg_.train;
  ++st_.skipped_steps;
  ++st_.consecutive_nonfinite;
  opt_->zero_grad();
  for (auto* l : model_->moe_layers()) l->set_pending_counts(torch::zeros_like(l->pending_counts()));
  log_ << "step " << st_.step << ": non-finite loss or gradient, step skipped (" << st_.consecutive_nonfinite
       << " in a row, " << st_.skipped_steps << " in total)\n";
  if (st_.consecutive_nonfinite < tc.max_nonfinite) return false;
  log_ << "error: " << st_.consecutive_nonfinite << " consecutive non-finite steps (train.max_nonfinite = "
       << tc.max_nonfinite << "); stopping. The last good checkpoint in " << latest_dir(run_dir_)
       << " is untouched. Lower train.lr or raise train.grad_clip.\n";
  return true;
}

void Trainer::log_interval(double lr, const StepResult& r, TrainSummary& sum) {
  const auto& tc = cfg_.train;
  auto& iv = interval_;
  const double t = now_s(), tps = iv.tokens / std::max(1e-9, t - iv.t_start);
  nlohmann::json rec{{log_field::kSchema, 1}, {log_field::kType, log_field::kTrain}, {log_field::kStep, st_.step},
                     {"loss", iv.steps ? nlohmann::json(iv.loss / iv.steps) : nlohmann::json(nullptr)}, {"lr", lr},
                     {"grad_norm", std::isfinite(r.grad_norm) ? nlohmann::json(r.grad_norm) : nlohmann::json(nullptr)},
                     {"tokens_per_s", tps}, {"skipped_steps", st_.skipped_steps}, {"elapsed_s", elapsed()}};
  if (dp_.active()) {  // this rank's time in collectives this interval (all-to-all: expert parallelism)
    auto c = dp_.group()->take_comm_seconds();
    for (dist::Group* sub : {ep_sub_.get(), ep_replicas_.get(), grad_sync_->group()})  // and the sub-groups'
      if (sub) {
        const auto e = sub->take_comm_seconds();
        c.other += e.other;
        c.all_to_all += e.all_to_all;
      }
    rec["dist_comm_s"] = c.other;
    rec["dist_all_to_all_s"] = c.all_to_all;
  }
  // Every rank runs the hook (the microscope sums its metrics over ranks); rank 0 alone logs.
  if (hooks.on_log) hooks.on_log(st_.step, rec);
  if (!dp_.root()) {
    iv = Interval{};
    iv.t_start = t;
    return;
  }
  metrics_->write(rec);
  test_hooks::crash_point("train_record_written");
  std::ostringstream line;
  line << "step " << st_.step << "/" << tc.max_steps << " loss " << std::fixed << std::setprecision(4)
       << (iv.steps ? iv.loss / iv.steps : NAN) << " lr " << std::scientific << std::setprecision(2)
       << lr << " tok/s " << std::fixed << std::setprecision(0) << tps;
  if (tty_) std::cout << "\r" << line.str() << "   " << std::flush;
  else std::cout << line.str() << std::endl;
  sum.tokens_per_s = tps;
  iv = Interval{};
  iv.t_start = t;
}

bool Trainer::evaluate_now(TrainSummary& sum) {
  const auto& tc = cfg_.train;
  if (hooks.before_eval) hooks.before_eval(st_.step);
  FullExperts full(shards_.get(), ExpertShards::kWeights);  // EP: evaluation runs every expert here
  auto r = evaluate(model_, *data_, tc.batch_size, tc.seq_len, tc.eval_max_batches, device_, hooks.eval_after_forward,
                    [this] {
                      test_hooks::crash_point("eval_batch");
                      return dp_.any(g_signal != 0);
                    });
  if (r.interrupted) {  // no record, no best checkpoint: a resume evaluates this step first
    st_.eval_pending = true;
    return false;
  }
  st_.eval_pending = false;
  nlohmann::json rec{{log_field::kSchema, 1}, {log_field::kType, log_field::kEval}, {log_field::kStep, st_.step}, {"val_loss", r.loss},
                     {"val_ppl", r.perplexity}, {"val_tokens", r.tokens}, {"elapsed_s", elapsed()}};
  if (hooks.on_eval) hooks.on_eval(st_.step, rec);
  if (metrics_) metrics_->write(rec);
  test_hooks::crash_point("eval_record_written");
  sum.val_loss = r.loss;
  last_eval_step_ = st_.step;
  if (r.loss < st_.best_val_loss) {
    st_.best_val_loss = r.loss;
    st_.best_step = st_.step;
    st_.elapsed_s = elapsed();
    if (shards_ && rank0_ep_group()) shards_->gather(ExpertShards::kMoments, 0);
    if (dp_.root()) save_checkpoint(best_dir(run_dir_), model_, opt_.get(), st_, cfg_.fields().to_json());
  }
  if (!dp_.root()) return true;
  if (tty_) std::cout << "\n";
  std::cout << "eval step " << st_.step << " val_loss " << std::fixed << std::setprecision(4) << r.loss
            << " ppl " << std::setprecision(2) << r.perplexity << (st_.best_step == st_.step ? " (best)" : "") << std::endl;
  return true;
}

// Until max_steps, a signal or the time limit: one optimizer step, then the log interval,
// evaluation and latest checkpoint when due; at the end a final evaluation and checkpoint.
TrainSummary Trainer::run() {
  const auto& tc = cfg_.train;
  g_signal = 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  tty_ = isatty(STDOUT_FILENO);
  poison_ = test_hooks::nan_loss_steps();
  TrainSummary sum;
  if (st_.step >= tc.max_steps && !st_.eval_pending) {  // a finished run, resumed: nothing to do, nothing written twice
    log_ << run_dir_ << ": finished at step " << st_.step << " (train.max_steps = " << tc.max_steps
         << "); nothing to do (raise train.max_steps to train on)\n";
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    sum.steps = st_.step;
    sum.best_val_loss = sum.val_loss = st_.best_val_loss;
    sum.skipped_steps = st_.skipped_steps;
    sum.wall_s = st_.elapsed_s;
    return sum;
  }
  if (resumed_ && hooks.on_resume) hooks.on_resume(st_.step);

  if (dp_.root()) metrics_ = std::make_unique<JsonlWriter>(metrics_path(run_dir_), /*append=*/true);
  {
    FullExperts full(shards_.get(), ExpertShards::kWeights | ExpertShards::kMoments);
    dp_.broadcast_state(model_, opt_.get());  // rank 0's initial or resumed state (and its hooks' changes) everywhere
  }
  state_changed_ = false;
  t_start_ = now_s();
  base_elapsed_ = st_.elapsed_s;
  interval_ = Interval{};
  interval_.t_start = t_start_;
  last_eval_step_ = -1;
  last_ckpt_step_ = -1;

  model_->train();
  if (st_.eval_pending && !evaluate_now(sum)) sum.exit_code = 130;  // interrupted before it could write it
  while (sum.exit_code == 0 && st_.step < tc.max_steps) {
    if (dp_.any(g_signal != 0)) {
      sum.exit_code = 130;
      break;
    }
    if (dp_.any(tc.max_minutes > 0 && elapsed() >= tc.max_minutes * 60.0)) {
      log_ << "time limit of " << tc.max_minutes << " min reached at step " << st_.step << "\n";
      break;
    }
    const double lr = lr_at(st_.step, tc);
    const StepResult r = train_step(lr);
    if (r.interrupted) {
      sum.exit_code = 130;
      break;
    }
    if (!r.finite && skip_nonfinite_step()) {
      sum.exit_code = 3;
      break;
    }
    ++st_.step;
    st_.tokens_seen += tc.batch_size * tc.seq_len * tc.grad_accum;
    interval_.tokens += tc.batch_size * tc.seq_len * tc.grad_accum;
    interval_.loss += r.finite ? r.loss : 0;
    interval_.steps += r.finite;
    sum.final_loss = r.loss;
    const bool log_now = st_.step % tc.log_every == 0 || st_.step == tc.max_steps;
    // EP: at a log step rank 0's hooks (the microscope: gradient norms, probe, remediation) see
    // every expert.
    std::optional<FullExperts> full;
    if (shards_ && log_now && (hooks.after_step || hooks.on_log))
      full.emplace(shards_.get(), ExpertShards::kWeights | ExpertShards::kGrads |
                                      (cfg_.scope.remediate ? unsigned(ExpertShards::kMoments) : 0u), 0);
    if (hooks.after_step) hooks.after_step(st_.step);

    if (log_now) {
      log_interval(lr, r, sum);
      // Rank 0's hooks may have acted (remediation): that decision, made once, reaches every rank.
      if (dp_.active() && dp_.any(state_changed_)) {
        if (shards_) shards_->gather(ExpertShards::kWeights | ExpertShards::kMoments);  // rank 0 keeps its changes
        dp_.broadcast_state(model_, opt_.get());
      }
      state_changed_ = false;
    }
    full.reset();
    if (st_.step % tc.eval_every == 0 && !evaluate_now(sum)) {
      sum.exit_code = 130;
      break;
    }
    if (st_.step % tc.ckpt_every == 0 && st_.consecutive_nonfinite == 0) {
      st_.elapsed_s = elapsed();
      save_latest();
    }
  }
  if (sum.exit_code != 3) {
    // A signal skips the final evaluation (a stop must be quick; the resume evaluates on schedule).
    if (sum.exit_code != 130 && last_eval_step_ != st_.step && st_.step > 0 && !evaluate_now(sum)) sum.exit_code = 130;
    if (last_ckpt_step_ != st_.step) {  // not saved already at this step in the loop
      st_.elapsed_s = elapsed();
      save_latest();
    }
  }
  if (tty_) std::cout << "\n";
  if (const std::string d = test_hooks::rank_state_dir(); !d.empty()) {
    // What this rank holds between steps (EP: its experts only), then its whole model.
    const std::string base = d + "/rank" + std::to_string(dp_.rank());
    nlohmann::json held{{"parameters", model_->num_params()}};
    if (shards_) {
      const auto b = shards_->expert_bytes();
      held["expert_weight_bytes"] = b.weights;
      held["expert_grad_bytes"] = b.grads;
      held["expert_moment_bytes"] = b.moments;
    }
    write_file_atomic(base + ".json", held.dump());
    FullExperts full(shards_.get(), ExpertShards::kWeights);
    save_model_weights(*model_, base + ".safetensors", {});
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sum.steps = st_.step;
  sum.best_val_loss = st_.best_val_loss;
  sum.skipped_steps = st_.skipped_steps;
  sum.wall_s = elapsed();
  return sum;
}

}  // namespace moescope
