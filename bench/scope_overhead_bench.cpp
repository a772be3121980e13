// scope_overhead_bench.cpp: cost of the microscope on the shakespeare preset, same process.
// Trains the same steps twice from the same seed, once without and once with the microscope
// (log every 10 steps, co-activation every 10 intervals), alternating, and prints the step-time
// ratio. Usage: scope_overhead_bench CONFIG.toml CORPUS.txt [steps=60] [repeats=2]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "ops/runtime.h"
#include "io/remove_tree.h"
#include "scope/microscope.h"
#include "train/trainer.h"

using namespace moescope;

namespace {
double run_once(const std::string& config, const std::string& corpus, int64_t steps, bool scope_on, int rep) {
  auto dir = std::filesystem::temp_directory_path() / ("moescope-scope-bench-" + std::to_string(getpid()) + "-" +
                                                       std::to_string(rep) + (scope_on ? "on" : "off"));
  remove_tree(dir.string());
  Config cfg = load_config(config, {"train.max_steps=" + std::to_string(steps), "train.log_every=10",
                                    "train.eval_every=1000000", "train.eval_max_batches=1", "train.ckpt_every=1000000",
                                    "train.max_minutes=0", "scope.coact_every=10", "scope.tensorboard=true"});
  cfg.data.path = corpus;
  std::ostringstream sink;
  Trainer t(cfg, dir.string(), false, sink);
  std::unique_ptr<Microscope> sc;
  if (scope_on) {
    ScopeContext ctx;
    ctx.model = t.model();
    ctx.run_dir = dir.string();
    ctx.log_every = 10;
    ctx.max_steps = steps;
    std::vector<int64_t> in, tg;
    const int64_t S = cfg.train.seq_len, n = t.data().val_batch(0, 4, S, &in, &tg);
    ctx.probe_tokens = torch::tensor(in, torch::kLong).view({n, S});
    ctx.log_event = [&t](const nlohmann::json& j) { t.log_event(j); };
    sc = std::make_unique<Microscope>(ctx, cfg.scope, sink);
    auto* m = sc.get();
    t.hooks.after_forward = [m](int64_t) { m->observe_forward(); };
    t.hooks.after_step = [m](int64_t s) { m->after_step(s); };
    t.hooks.on_log = [m](int64_t s, nlohmann::json& r) { m->on_log(s, r); };
  }
  auto t0 = std::chrono::steady_clock::now();
  t.run();  // includes one final evaluation in both arms
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  remove_tree(dir.string());
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  init_process(argc, argv);
  if (argc < 3) {
    std::cerr << "usage: scope_overhead_bench CONFIG.toml CORPUS.txt [steps] [repeats]\n";
    return 2;
  }
  const int64_t steps = argc > 3 ? std::stoll(argv[3]) : 60;
  const int reps = argc > 4 ? std::stoi(argv[4]) : 2;
  double off = 0, on = 0;
  for (int r = 0; r < reps; ++r) {
    off += run_once(argv[1], argv[2], steps, false, r);
    on += run_once(argv[1], argv[2], steps, true, r);
  }
  std::printf("scope off: %.2f s, scope on: %.2f s for %d x %lld steps; on/off = %.3f (overhead %.1f%%)\n", off, on,
              reps, static_cast<long long>(steps), on / off, 100.0 * (on / off - 1.0));
  return 0;
}
