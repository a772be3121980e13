// threads.h: how many intra-op threads a training run uses (torch-free rule; runtime.h applies it).
//
// Precedence: train.threads when > 0, else OMP_NUM_THREADS when set, else the measured rule:
// one thread when a micro-batch step is small (below kAllThreadsMinStepGflop training FLOPs),
// every hardware thread above. Measured with bench/train_step_bench on a 2-core AVX-512 VM
// (fp32, tokens/s at 1 / 2 threads): demo preset (6.9 GFLOP per step) 6,000 / 4,616;
// REF-CPU (68 GFLOP per step) 857 / 1,149; and on the 2-core AVX2 machine of issue 11, REF-CPU
// 1,828 / 2,031. Small steps lose more to thread hand-offs (and to OpenBLAS's spinning workers,
// see README "Performance") than they gain from a second core.
#pragma once
#include <string>

namespace moescope {

constexpr double kAllThreadsMinStepGflop = 20.0;

struct ThreadChoice {
  int threads = 1;
  std::string reason;  // one line, logged at the start of a run
};

// requested: train.threads (0 = automatic); omp_env: OMP_NUM_THREADS or nullptr; step_gflop:
// training FLOPs of one micro-batch (model/flops.h) in GFLOP; hw_threads: hardware threads.
ThreadChoice choose_train_threads(int requested, const char* omp_env, double step_gflop, int hw_threads);

}  // namespace moescope
