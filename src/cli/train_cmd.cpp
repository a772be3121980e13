// train_cmd.cpp: `moescope train --config FILE.toml [--data TEXT] [--out RUN_DIR] [--set k=v ...] [--resume]
// [--max-memory SIZE]`. Under `moescope launch` (or torchrun) each process is one data-parallel
// rank: rank 0 writes the run directory, runs the microscope and prints; the others are silent.
#include <algorithm>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/host_memory.h"
#include "hf/config_import.h"
#include "dist/process_group.h"
#include "scope/microscope.h"
#include "train/loaded_run.h"
#include "train/trainer.h"

namespace moescope {

Command register_train(CLI::App& app) {
  struct Opts {
    std::string config, data, out = "runs/default", max_memory, init;
    std::vector<std::string> sets;
    bool resume = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("train", "Train a model (a killed run continues with --resume)");
  c->add_option("--config", o->config,
                "TOML preset (e.g. configs/shakespeare.toml); with --resume, defaults to RUN_DIR/config.json");
  c->add_option("--data", o->data, "UTF-8 text corpus (default: data.path, else the Brown corpus prepared by setup)");
  c->add_option("--out", o->out, "Run directory")->capture_default_str();
  c->add_option("--set", o->sets, "Override a config key: key=value (repeatable)");
  c->add_option(
      "--max-memory", o->max_memory,
      "Refuse to start when the memory estimate exceeds this (e.g. 8G, 512M); default: MemAvailable on the CPU");
  c->add_option("--init", o->init,
                "Start from a Hugging Face model directory (its config.json replaces [model], [attn], [moe]; its "
                "tokenizer.json is the tokenizer; its weights are the starting point)");
  c->add_flag("--resume", o->resume,
              "Continue the run in --out from checkpoints/latest (train.*, scope.* and compress.* may change)");
  c->footer(config_help());
  return [o, c]() -> int {
    Config cfg;
    if (!o->init.empty()) {
      // The model from config.json; everything else from --config (or the defaults), then --set.
      if (!o->config.empty()) cfg = load_config(o->config);
      const HfModelConfig hf = read_hf_config(o->init);
      for (const auto& n : hf.notes) std::cerr << "model: " << n << "\n";
      cfg.model = hf.model;
      cfg.data.tokenizer = "hf:" + o->init;
      cfg.train.seq_len = std::min(cfg.train.seq_len, cfg.model.max_seq_len);
      auto t = cfg.fields();
      for (auto& s : o->sets) t.apply_assignment(s);
      cfg.validate();
    } else if (o->config.empty()) {
      if (!o->resume) throw std::invalid_argument("train: --config is required (e.g. --config configs/tiny.toml)");
      cfg = read_run_config(o->out);
      auto t = cfg.fields();
      for (auto& s : o->sets) t.apply_assignment(s);
      cfg.validate();
    } else {
      cfg = load_config(o->config, o->sets);
    }
    if (!o->data.empty()) cfg.data.path = o->data;
    const uint64_t max_memory = o->max_memory.empty() ? 0 : parse_byte_size(o->max_memory, "--max-memory");
    // A rank of a multi-process job (moescope launch, torchrun): join the world group first.
    const dist::DistEnv env = dist::read_dist_env();
    if (env.distributed() && !dist::world()) dist::set_world(dist::Group::connect(env));
    const bool root = env.rank == 0;
    std::ostream null_log(nullptr);  // ranks > 0 are silent; their errors still reach stderr
    Trainer trainer(cfg, o->out, o->resume, root ? std::cerr : null_log, max_memory, o->init);
    std::unique_ptr<Microscope> scope;
    // Every rank runs a microscope: their counts are summed over ranks; rank 0 alone writes.
    if (trainer.config().scope.enabled && trainer.config().model.n_moe_layers() > 0) {
      const auto& tc = trainer.config().train;
      ScopeContext ctx;
      ctx.model = trainer.model();
      ctx.run_dir = o->out;
      ctx.log_every = tc.log_every;
      ctx.max_steps = tc.max_steps;
      std::vector<int64_t> in, tg;
      const int64_t n = trainer.data().val_batch(0, std::min<int64_t>(4, trainer.data().n_val_windows(tc.seq_len)),
                                                 tc.seq_len, &in, &tg);
      ctx.probe_tokens =
          torch::tensor(in, torch::kLong).view({n, tc.seq_len}).to(trainer.model()->parameters().front().device());
      ctx.log_event = [&trainer](const nlohmann::json& j) { trainer.log_event(j); };
      ctx.optimizer.reset_moments = [&trainer](const std::string& prefix) { trainer.optimizer().reset_state(prefix); };
      ctx.knobs_in_checkpoint = trainer.state().router_knobs_restored;
      ctx.group = dist::world();
      scope = std::make_unique<Microscope>(ctx, trainer.config().scope, std::cerr);
      auto* sc = scope.get();
      auto& h = trainer.hooks;
      h.after_forward = [sc](int64_t) { sc->observe_forward(); };
      h.after_step = [sc](int64_t step) { sc->after_step(step); };
      h.on_log = [sc](int64_t step, nlohmann::json& rec) { sc->on_log(step, rec); };
      h.before_eval = [sc](int64_t) { sc->before_eval(); };
      h.eval_after_forward = [sc]() { sc->eval_after_forward(); };
      h.on_eval = [sc](int64_t step, nlohmann::json& rec) { sc->on_eval(step, rec); };
      h.on_resume = [sc](int64_t step) { sc->on_resume(step); };
    }
    auto s = trainer.run();
    nlohmann::json j{{"run_dir", o->out},
                     {"steps", s.steps},
                     {"final_train_loss", s.final_loss},
                     {"val_loss", s.val_loss},
                     {"best_val_loss", s.best_val_loss},
                     {"tokens_per_s", s.tokens_per_s},
                     {"skipped_steps", s.skipped_steps},
                     {"wall_s", s.wall_s},
                     {"exit_code", s.exit_code}};
    if (root) std::cout << j.dump() << std::endl;
    return s.exit_code;
  };
}

}  // namespace moescope
