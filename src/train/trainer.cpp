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
    data_->train_batch_rows(static_cast<uint64_t>(tc.seed), static_cast<uint64_t>(st_.micro_index), dp_.rank() * B, B,
                            S, &in_, &tg_);
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
  r.grad_norm =
      shards_ ? shards_->clip_grad_norm(max_norm) : torch::nn::utils::clip_grad_norm_(model_->parameters(), max_norm);
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
  log_ << "error: " << st_.consecutive_nonfinite
       << " consecutive non-finite steps (train.max_nonfinite = " << tc.max_nonfinite
       << "); stopping. The last good checkpoint in " << latest_dir(run_dir_)
       << " is untouched. Lower train.lr or raise train.grad_clip.\n";
  return true;
}

void Trainer::log_interval(double lr, const StepResult& r, TrainSummary& sum) {
  const auto& tc = cfg_.train;
  auto& iv = interval_;
  const double t = now_s(), tps = iv.tokens / std::max(1e-9, t - iv.t_start);
  nlohmann::json rec{{log_field::kSchema, 1},
                     {log_field::kType, log_field::kTrain},
                     {log_field::kStep, st_.step},
                     {"loss", iv.steps ? nlohmann::json(iv.loss / iv.steps) : nlohmann::json(nullptr)},
                     {"lr", lr},
                     {"grad_norm", std::isfinite(r.grad_norm) ? nlohmann::json(r.grad_norm) : nlohmann::json(nullptr)},
                     {"tokens_per_s", tps},
                     {"skipped_steps", st_.skipped_steps},
                     {"elapsed_s", elapsed()}};
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
       << (iv.steps ? iv.loss / iv.steps : NAN) << " lr " << std::scientific << std::setprecision(2) << lr << " tok/s "
       << std::fixed << std::setprecision(0) << tps;
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
  nlohmann::json rec{{log_field::kSchema, 1},      {log_field::kType, log_field::kEval},
                     {log_field::kStep, st_.step}, {"val_loss", r.loss},
                     {"val_ppl", r.perplexity},    {"val_tokens", r.tokens},
                     {"elapsed_s", elapsed()}};
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
  std::cout << "eval step " << st_.step << " val_loss " << std::fixed << std::setprecision(4) << r.loss << " ppl "
            << std::setprecision(2) << r.perplexity << (st_.best_step == st_.step ? " (best)" : "") << std::endl;
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
      full.emplace(shards_.get(),
                   ExpertShards::kWeights | ExpertShards::kGrads |
                       (cfg_.scope.remediate ? unsigned(ExpertShards::kMoments) : 0u),
                   0);
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
  test_hooks::maybe_dump_rank_state(dp_.rank(), model_, shards_.get());
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sum.steps = st_.step;
  sum.best_val_loss = st_.best_val_loss;
  sum.skipped_steps = st_.skipped_steps;
  sum.wall_s = elapsed();
  return sum;
}

}  // namespace moescope
