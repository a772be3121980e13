// threads.cpp: see threads.h.
#include "core/threads.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace moescope {

ThreadChoice choose_train_threads(int requested, const char* omp_env, double step_gflop, int hw_threads) {
  ThreadChoice c;
  hw_threads = std::max(1, hw_threads);
  char buf[160];
  if (requested > 0) {
    c.threads = requested;
    std::snprintf(buf, sizeof buf, "threads %d (train.threads)", c.threads);
  } else if (omp_env && std::atoi(omp_env) > 0) {
    c.threads = std::atoi(omp_env);
    std::snprintf(buf, sizeof buf, "threads %d (OMP_NUM_THREADS)", c.threads);
  } else {
    const bool large = step_gflop >= kAllThreadsMinStepGflop;
    c.threads = large ? hw_threads : 1;
    std::snprintf(buf, sizeof buf, "threads %d of %d: a step is %.1f GFLOP, %s %.0f (train.threads overrides)",
                  c.threads, hw_threads, step_gflop, large ? "at least" : "below", kAllThreadsMinStepGflop);
  }
  c.reason = buf;
  return c;
}

}  // namespace moescope
