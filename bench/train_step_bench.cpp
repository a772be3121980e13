// train_step_bench.cpp: REF-CPU training throughput (DEVELOPERS.md "REF-CPU"), same process:
//   matmul peak  fp32 and bf16 square matmuls (n = 1024), the roofline of everything below;
//   moe          configs/ref-cpu.toml (d 256, 4 layers, MLA latent 32, 1 shared + 8 routed
//                experts of hidden 512, top-2), batch 8 x seq 256, full optimizer steps of the
//                real Trainer (forward, backward, clipping, AdamW, bias update);
//   dense        the same model with a dense SwiGLU of equal active parameters (hidden 1536).
// Each (model, dtype, threads) cell: 3 warm-up steps, then ROUNDS x STEPS timed steps; the
// median step time gives tokens/s; FLOPs per token from model/flops.h give achieved GFLOP/s,
// printed as a share of the fp32 and bf16 peaks. bf16 on a CPU without native bf16 runs far
// fewer steps (it is ~50x slower; the figure is still a measurement).
// Usage: train_step_bench [--steps 30] [--rounds 2] [--threads 1,2] [--dtypes fp32,bf16]
//                         [--data FILE] [--models moe,dense] [--config ref-cpu]
// --config NAME runs another preset (configs/NAME.toml) at its own batch and sequence length
// (REF-CPU: batch 8 x 256); the dense baseline's hidden size is the MoE layer's active width.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench_args.h"
#include "core/config.h"
#include "core/cpu_features.h"
#include "ops/runtime.h"
#include "io/remove_tree.h"
#include "model/flops.h"
#include "ops/device_info.h"
#include "train/trainer.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

struct Cell {
  std::string model, dtype;
  int threads = 1;
  int64_t steps = 0;
  double step_s = 0, tokens_per_s = 0, gflops = 0;
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

Cell run_cell(const std::string& preset, const std::string& model, const std::string& dtype, int threads, int64_t steps,
              int64_t rounds, const std::string& data) {
  set_compute_threads(threads);
  const std::string path = std::string(MOESCOPE_SOURCE_DIR) + "/configs/" + preset + ".toml";
  const MoEConfig moe = load_config(path).model.moe;
  std::vector<std::string> sets = {
      "data.path=" + data,       "train.dtype=" + dtype,     "train.device=cpu",
      "data.tokenizer=char",     "train.log_every=100000",   "train.eval_every=100000",
      "train.ckpt_every=100000", "train.eval_max_batches=1", "train.max_steps=" + std::to_string(3 + rounds * steps)};
  if (model == "dense") {  // equal active parameters: shared + top-k routed hidden units
    const int64_t shared =
        moe.n_shared > 0 ? (moe.shared_hidden > 0 ? moe.shared_hidden : moe.n_shared * moe.expert_hidden) : 0;
    sets.push_back("model.ffn=dense");
    sets.push_back("model.dense_hidden=" + std::to_string(shared + moe.top_k * moe.expert_hidden));
  }
  Config cfg = load_config(path, sets);
  const fs::path dir = fs::temp_directory_path() / ("moescope-train-bench-" + std::to_string(::getpid()));
  remove_tree(dir.string());
  std::ostringstream quiet;
  Trainer tr(cfg, dir.string(), false, quiet);
  std::vector<double> t;
  tr.hooks.after_step = [&](int64_t) { t.push_back(now_s()); };
  const double t0 = now_s();
  std::streambuf* old = std::cout.rdbuf(quiet.rdbuf());  // the trainer's step lines
  tr.run();
  std::cout.rdbuf(old);
  remove_tree(dir.string());
  std::vector<double> dts;
  for (size_t i = 3; i < t.size(); ++i) dts.push_back(t[i] - t[i - 1]);
  (void)t0;
  std::sort(dts.begin(), dts.end());
  Cell c{model, dtype, threads, static_cast<int64_t>(dts.size()), 0, 0, 0};
  c.step_s = dts.empty() ? 0 : dts[dts.size() / 2];
  const auto& tc = tr.config().train;
  c.tokens_per_s = static_cast<double>(tc.batch_size * tc.seq_len * tc.grad_accum) / c.step_s;
  c.gflops = train_flops_per_token(tr.config().model, tc.seq_len) * c.tokens_per_s / 1e9;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  init_process(argc, argv);
  int64_t steps = 30, rounds = 2;
  std::vector<std::string> threads_s = {"1", std::to_string(std::max(1u, std::thread::hardware_concurrency()))};
  std::vector<std::string> dtypes = {"fp32", "bf16"}, models = {"moe", "dense"};
  std::string data = std::string(MOESCOPE_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt";
  std::string preset = "ref-cpu";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--steps") steps = std::stoll(v);
    else if (k == "--rounds") rounds = std::stoll(v);
    else if (k == "--threads") threads_s = bench::split_list(v);
    else if (k == "--dtypes") dtypes = bench::split_list(v);
    else if (k == "--models") models = bench::split_list(v);
    else if (k == "--data") data = v;
    else if (k == "--config") preset = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (!fs::exists(data)) {
    std::cerr << "train_step_bench: no data file " << data << " (pass --data FILE)\n";
    return 2;
  }
  const auto& cpu = host_cpu_features();
  std::printf("cpu: %s, %d logical CPUs, %s; %s\n", cpu.model_name.c_str(), cpu.logical_cpus, cpu.isa_level().c_str(),
              blas_summary().c_str());
  const int all = std::max(1u, std::thread::hardware_concurrency());
  set_compute_threads(all);
  const double peak32 = matmul_gflops("fp32", 1024, 1.0),
               peak16 = matmul_gflops("bf16", 1024, cpu.native_bf16() ? 1.0 : 0.1);
  std::printf("preset %s\n", preset.c_str());
  std::printf("matmul peak (1024^3, %d threads): fp32 %.1f GFLOP/s, bf16 %.1f GFLOP/s\n", all, peak32, peak16);
  std::printf("%-6s %-5s %-7s %6s %10s %10s %9s %8s %8s\n", "model", "dtype", "threads", "steps", "step_ms", "tokens/s",
              "GFLOP/s", "%fp32pk", "%bf16pk");
  std::vector<Cell> cells;
  for (const auto& dt : dtypes)
    for (const auto& m : models)
      for (const auto& th : threads_s) {
        const bool emulated = dt == "bf16" && !cpu.native_bf16();
        Cell c = run_cell(preset, m, dt, std::stoi(th), emulated ? 2 : steps, emulated ? 1 : rounds, data);
        std::printf("%-6s %-5s %-7d %6lld %10.1f %10.0f %9.1f %7.1f%% %7.1f%%\n", c.model.c_str(), c.dtype.c_str(),
                    c.threads, static_cast<long long>(c.steps), c.step_s * 1e3, c.tokens_per_s, c.gflops,
                    100 * c.gflops / peak32, 100 * c.gflops / peak16);
        std::fflush(stdout);
        cells.push_back(c);
      }
  auto best = [&](const std::string& m, const std::string& dt) {
    double b = 0;
    for (auto& c : cells)
      if (c.model == m && (dt.empty() || c.dtype == dt)) b = std::max(b, c.tokens_per_s);
    return b;
  };
  for (const auto& dt : dtypes)
    if (best("moe", dt) > 0 && best("dense", dt) > 0)
      std::printf("moe / dense tokens/s (%s, best thread count each): %.2fx\n", dt.c_str(),
                  best("moe", dt) / best("dense", dt));
  std::printf("best moe tokens/s: %.0f\n", best("moe", ""));
  return 0;
}
