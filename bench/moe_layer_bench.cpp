// moe_layer_bench.cpp: forward+backward of one DeepSeekMoE layer vs baselines, same process.
//   MoE:   d_model 512, 16 routed experts of hidden 256 + 1 shared (hidden 256), top-2,
//          4096 tokens (8 x 512), softmax router, dropless.
//   naive: the masked reference (every expert over every token) on the same layer.
//   dense: a SwiGLU with the same active parameters (hidden 3 * 256 = 768).
// Printed at the end as time ratios against the dense baseline (fp32 and bf16 compute).
#include <cstdio>
#include <map>
#include <string>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/config.h"
#include "ops/runtime.h"
#include "model/moe.h"
#include "model/moe_reference.h"

using namespace moescope;

namespace {
constexpr int64_t kD = 512, kE = 16, kF = 256, kB = 8, kS = 512;

ModelConfig bench_cfg() {
  ModelConfig c;
  c.d_model = kD;
  c.moe.n_routed = kE;
  c.moe.n_shared = 1;
  c.moe.expert_hidden = kF;
  c.moe.top_k = 2;
  c.moe.bias_balance = true;
  return c;
}

void BM_MoE(benchmark::State& st, bool naive, at::ScalarType dt) {
  torch::manual_seed(0);
  auto cfg = bench_cfg();
  MoELayer layer(cfg, 4);
  layer->train();
  auto x = torch::randn({kB, kS, kD}).to(dt).requires_grad_(true);
  for (auto _ : st) {
    auto y = naive ? moe_reference_forward(*layer, x) : layer->forward(x);
    y.sum().backward();
    layer->zero_grad();
  }
  st.SetItemsProcessed(st.iterations() * kB * kS);
}

void BM_Dense(benchmark::State& st, at::ScalarType dt) {
  torch::manual_seed(0);
  SwiGLUMlp mlp(kD, 3 * kF, 0.02, 0.02);
  auto x = torch::randn({kB * kS, kD}).to(dt).requires_grad_(true);
  for (auto _ : st) {
    mlp->forward(x).sum().backward();
    mlp->zero_grad();
  }
  st.SetItemsProcessed(st.iterations() * kB * kS);
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (auto& r : runs)
      if (r.run_type == Run::RT_Iteration) times[r.run_name.function_name] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> times;
};
}  // namespace

int main(int argc, char** argv) {
  init_process(argc, argv);
  benchmark::RegisterBenchmark("dense_fp32", BM_Dense, at::kFloat)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("moe_fp32", BM_MoE, false, at::kFloat)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("naive_fp32", BM_MoE, true, at::kFloat)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("dense_bf16", BM_Dense, at::kBFloat16)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  benchmark::RegisterBenchmark("moe_bf16", BM_MoE, false, at::kBFloat16)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  benchmark::Initialize(&argc, argv);
  RatioReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  auto& t = rep.times;
  auto ratio = [&](const char* a, const char* b) {
    if (t.count(a) && t.count(b)) std::printf("  %-12s / %-12s = %.2fx\n", a, b, t[a] / t[b]);
  };
  std::printf("\nratios (wall time, fwd+bwd, %d threads; goal: moe/dense <= 1.3 on CPU):\n", at::get_num_threads());
  ratio("moe_fp32", "dense_fp32");
  ratio("naive_fp32", "moe_fp32");
  ratio("moe_bf16", "dense_bf16");
  ratio("dense_fp32", "dense_bf16");
  return 0;
}
