// synthetic_log.h: writes a training run log in the metrics.jsonl schema (train records with
// per-layer load/counts/bias/expert_grad_norm/dead/scalars, periodic co-activation and eval
// records, alerts) of any size: the dashboard tests use small ones and dashboard_bench the
// 20,000 steps x 32 layers x 64 experts one.
#pragma once
#include <cstdint>
#include <string>

namespace moescope::testing {

struct SyntheticLogSpec {
  int64_t records = 100;  // train records (steps first_step, first_step + every, ...)
  int64_t first_step = 1;
  int64_t every = 1;
  int layers = 2;
  int experts = 8;
  int64_t coactivation_every = 0;  // 0: never
  int64_t eval_every = 0;          // 0: never
  int64_t alert_every = 0;         // alerts.jsonl line every N records; 0: none
  uint64_t seed = 1;
};

// Writes DIR/metrics.jsonl and DIR/alerts.jsonl (appending when `append`). Returns the bytes
// written to metrics.jsonl.
uint64_t write_synthetic_run(const std::string& dir, const SyntheticLogSpec& spec, bool append = false);

// One train record line (no newline) for `step`, as write_synthetic_run writes them.
std::string synthetic_train_line(const SyntheticLogSpec& spec, int64_t step, bool coactivation);

}  // namespace moescope::testing
