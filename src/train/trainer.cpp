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
#include <set>
#include <sstream>
#include <thread>

#include "core/runtime.h"
#include "core/threads.h"
#include "model/flops.h"
#include "io/jsonl.h"
#include "train/dtype_choice.h"
#include "train/evaluate.h"
#include "train/run_dir.h"
#include "train/schedule.h"

namespace moescope {
namespace fs = std::filesystem;
namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal = sig; }

// Steps at which the test hook MOESCOPE_TEST_NAN_STEPS ("3,4,5") poisons the loss.
std::set<int64_t> nan_steps() {
  std::set<int64_t> s;
  if (const char* e = std::getenv("MOESCOPE_TEST_NAN_STEPS")) {
    std::stringstream ss(e);
    std::string tok;
    while (std::getline(ss, tok, ',')) if (!tok.empty()) s.insert(std::stoll(tok));
  }
  return s;
}

// model.* and data.* of a resumed run must equal the saved ones (vocab_size is derived).
void check_resume_compatible(Config& requested, Config& saved) {
  auto a = requested.fields();
  const nlohmann::json ja = a.to_json(), jb = saved.fields().to_json();
  for (const auto& k : a.keys()) {
    if (k.rfind("train.", 0) == 0 || k == "model.vocab_size") continue;
    auto ptr = nlohmann::json::json_pointer("/" + std::string(k).replace(k.find('.'), 1, "/"));
    if (ja.at(ptr) != jb.at(ptr))
      throw std::invalid_argument("--resume: config key '" + k + "' is " + ja.at(ptr).dump() +
                                  " but the run was started with " + jb.at(ptr).dump() + " (only train.* may change on resume)");
  }
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

Trainer::Trainer(Config cfg, std::string run_dir, bool resume, std::ostream& log)
    : cfg_(std::move(cfg)), run_dir_(std::move(run_dir)), log_(log), resumed_(resume) {
  fs::create_directories(run_dir_);
  if (resume) {
    Config saved = read_run_config(run_dir_);
    check_resume_compatible(cfg_, saved);
    cfg_.model.vocab_size = saved.model.vocab_size;
    if (find_checkpoint(latest_dir(run_dir_)).empty())
      throw std::runtime_error(run_dir_ + ": --resume, but there is no checkpoints/latest to resume from");
  } else if (!find_checkpoint(latest_dir(run_dir_)).empty() || fs::exists(config_path(run_dir_))) {
    throw std::runtime_error(run_dir_ + " already holds a run: pass --resume to continue it, or choose another --out");
  }
  data_ = std::make_unique<Dataset>(Dataset::prepare(cfg_.data, run_dir_, log_));
  cfg_.model.vocab_size = data_->vocab_size();
  cfg_.validate();
  const std::string device = resolve_device(cfg_.train.device);
  // train.dtype is resolved once and saved resolved: a resumed run keeps its dtype unless
  // --set train.dtype names another one explicitly.
  if (resume && cfg_.train.dtype == "auto") cfg_.train.dtype = read_run_config(run_dir_).train.dtype;
  if (device == "cpu") {
    const double step_gflop = train_flops_per_token(cfg_.model, cfg_.train.seq_len) *
                              static_cast<double>(cfg_.train.batch_size * cfg_.train.seq_len) / 1e9;
    const ThreadChoice th = choose_train_threads(static_cast<int>(cfg_.train.threads), std::getenv("OMP_NUM_THREADS"),
                                                 step_gflop, static_cast<int>(std::thread::hardware_concurrency()));
    set_compute_threads(th.threads);
    log_ << th.reason << "\n";
  }
  cfg_.train.dtype = resolve_train_dtype(cfg_.train.dtype, device, log_);
  if (!resume) write_run_config(run_dir_, cfg_);

  seed_everything(static_cast<uint64_t>(cfg_.train.seed));
  device_ = to_device(device);
  model_ = Transformer(cfg_.model);
  model_->to(device_);
  model_->compute_dtype = compute_dtype(cfg_.train.dtype);
  opt_ = std::make_unique<AdamW>(adamw_params(*model_, cfg_.train.decay_embeddings, cfg_.train.router_lr_mult),
                                 cfg_.train.beta1, cfg_.train.beta2, cfg_.train.adam_eps, cfg_.train.weight_decay);
  if (resume) {
    st_ = load_checkpoint(latest_dir(run_dir_), model_, opt_.get());
    truncate_jsonl_after(metrics_path(run_dir_), "step", st_.step);
    log_ << "resumed " << run_dir_ << " at step " << st_.step << "\n";
  }
  log_ << "model: " << model_->num_params() << " parameters (" << model_->num_active_params()
       << " active per token), " << cfg_.model.n_moe_layers() << " MoE layers, device " << device_ << ", compute "
       << cfg_.train.dtype << "\n";
}

void Trainer::log_event(const nlohmann::json& record) {
  if (metrics_) metrics_->write(record);
}

Trainer::~Trainer() = default;

void Trainer::save_latest() {
  nlohmann::json cj = cfg_.fields().to_json();
  save_checkpoint(latest_dir(run_dir_), model_, opt_.get(), st_, cj);
}

TrainSummary Trainer::run() {
  const auto& tc = cfg_.train;
  const int64_t B = tc.batch_size, S = tc.seq_len;
  g_signal = 0;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const bool tty = isatty(STDOUT_FILENO);
  const auto poison = nan_steps();
  if (resumed_ && hooks.on_resume) hooks.on_resume(st_.step);

  metrics_ = std::make_unique<JsonlWriter>(metrics_path(run_dir_), /*append=*/true);
  JsonlWriter& metrics = *metrics_;
  TrainSummary sum;
  const double t_start = now_s(), base_elapsed = st_.elapsed_s;
  double t_interval = t_start, interval_loss = 0;
  int64_t interval_tokens = 0, interval_steps = 0, last_eval_step = -1;
  auto elapsed = [&] { return base_elapsed + (now_s() - t_start); };
  auto do_eval = [&] {
    if (hooks.before_eval) hooks.before_eval(st_.step);
    auto r = evaluate(model_, *data_, B, S, tc.eval_max_batches, device_, hooks.eval_after_forward);
    nlohmann::json rec{{"schema", 1}, {"type", "eval"}, {"step", st_.step}, {"val_loss", r.loss},
                       {"val_ppl", r.perplexity}, {"val_tokens", r.tokens}, {"elapsed_s", elapsed()}};
    if (hooks.on_eval) hooks.on_eval(st_.step, rec);
    metrics.write(rec);
    sum.val_loss = r.loss;
    last_eval_step = st_.step;
    if (r.loss < st_.best_val_loss) {
      st_.best_val_loss = r.loss;
      st_.best_step = st_.step;
      st_.elapsed_s = elapsed();
      save_checkpoint(best_dir(run_dir_), model_, opt_.get(), st_, cfg_.fields().to_json());
    }
    if (tty) std::cout << "\n";
    std::cout << "eval step " << st_.step << " val_loss " << std::fixed << std::setprecision(4) << r.loss
              << " ppl " << std::setprecision(2) << r.perplexity << (st_.best_step == st_.step ? " (best)" : "") << std::endl;
  };

  model_->train();
  std::vector<int64_t> in, tg;
  while (st_.step < tc.max_steps) {
    if (g_signal) {
      sum.exit_code = 130;
      break;
    }
    if (tc.max_minutes > 0 && elapsed() >= tc.max_minutes * 60.0) {
      log_ << "time limit of " << tc.max_minutes << " min reached at step " << st_.step << "\n";
      break;
    }
    const double lr = lr_at(st_.step, tc);
    opt_->zero_grad();
    double step_loss = 0;
    bool finite = true;
    for (int64_t m = 0; m < tc.grad_accum; ++m) {
      data_->train_batch(static_cast<uint64_t>(tc.seed), static_cast<uint64_t>(st_.micro_index), B, S, &in, &tg);
      ++st_.micro_index;
      auto inp = torch::from_blob(in.data(), {B, S}, torch::kLong).to(device_);
      auto tgt = torch::from_blob(tg.data(), {B, S}, torch::kLong).to(device_);
      auto out = model_->forward(inp);
      if (hooks.after_forward) hooks.after_forward(st_.step);
      auto ce = lm_loss(out.logits_BSV, tgt);
      auto loss = ce + out.aux_loss.to(at::kFloat);
      if (poison.count(st_.step)) loss = loss * std::numeric_limits<float>::quiet_NaN();
      (loss / static_cast<double>(tc.grad_accum)).backward();
      const double l = loss.item<double>();
      finite = finite && std::isfinite(l);
      step_loss += ce.item<double>() / static_cast<double>(tc.grad_accum);
    }
    const double gnorm = torch::nn::utils::clip_grad_norm_(model_->parameters(),
                                                           tc.grad_clip > 0 ? tc.grad_clip : std::numeric_limits<double>::infinity());
    finite = finite && std::isfinite(gnorm);
    if (!finite) {
      ++st_.skipped_steps;
      ++st_.consecutive_nonfinite;
      opt_->zero_grad();
      for (auto* l : model_->moe_layers()) l->set_pending_counts(torch::zeros_like(l->pending_counts()));
      log_ << "step " << st_.step << ": non-finite loss or gradient, step skipped (" << st_.consecutive_nonfinite
           << " in a row, " << st_.skipped_steps << " in total)\n";
      if (st_.consecutive_nonfinite >= tc.max_nonfinite) {
        log_ << "error: " << st_.consecutive_nonfinite << " consecutive non-finite steps (train.max_nonfinite = "
             << tc.max_nonfinite << "); stopping. The last good checkpoint in " << latest_dir(run_dir_)
             << " is untouched. Lower train.lr or raise train.grad_clip.\n";
        sum.exit_code = 3;
        break;
      }
    } else {
      st_.consecutive_nonfinite = 0;
      opt_->step(lr);
      model_->update_router_biases();
    }
    ++st_.step;
    st_.tokens_seen += B * S * tc.grad_accum;
    interval_tokens += B * S * tc.grad_accum;
    interval_loss += finite ? step_loss : 0;
    interval_steps += finite;
    sum.final_loss = step_loss;
    if (hooks.after_step) hooks.after_step(st_.step);

    if (st_.step % tc.log_every == 0 || st_.step == tc.max_steps) {
      const double t = now_s(), tps = interval_tokens / std::max(1e-9, t - t_interval);
      nlohmann::json rec{{"schema", 1}, {"type", "train"}, {"step", st_.step},
                         {"loss", interval_steps ? nlohmann::json(interval_loss / interval_steps) : nlohmann::json(nullptr)}, {"lr", lr},
                         {"grad_norm", std::isfinite(gnorm) ? nlohmann::json(gnorm) : nlohmann::json(nullptr)},
                         {"tokens_per_s", tps}, {"skipped_steps", st_.skipped_steps}, {"elapsed_s", elapsed()}};
      if (hooks.on_log) hooks.on_log(st_.step, rec);
      metrics.write(rec);
      std::ostringstream line;
      line << "step " << st_.step << "/" << tc.max_steps << " loss " << std::fixed << std::setprecision(4)
           << (interval_steps ? interval_loss / interval_steps : NAN) << " lr " << std::scientific << std::setprecision(2)
           << lr << " tok/s " << std::fixed << std::setprecision(0) << tps;
      if (tty) std::cout << "\r" << line.str() << "   " << std::flush;
      else std::cout << line.str() << std::endl;
      sum.tokens_per_s = tps;
      t_interval = t;
      interval_tokens = interval_steps = 0;
      interval_loss = 0;
    }
    if (st_.step % tc.eval_every == 0) do_eval();
    if (st_.step % tc.ckpt_every == 0 && st_.consecutive_nonfinite == 0) {
      st_.elapsed_s = elapsed();
      save_latest();
    }
  }
  if (sum.exit_code != 3) {
    if (last_eval_step != st_.step && st_.step > 0) do_eval();
    st_.elapsed_s = elapsed();
    save_latest();
  }
  if (tty) std::cout << "\n";
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sum.steps = st_.step;
  sum.best_val_loss = st_.best_val_loss;
  sum.skipped_steps = st_.skipped_steps;
  sum.wall_s = elapsed();
  return sum;
}

}  // namespace moescope
