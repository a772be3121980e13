// stopping.h: the early-stopping rules both solvers share (compress.* in core/config.h).
//   nonfinite         any NaN/Inf in a group's factors or reconstruction: stop at once
//   coherence         a bank's largest off-diagonal coherence above compress.max_coherence
//   target_rel_error  every group's relative error <= compress.target_rel_error
//   plateau           compress.plateau_iters iterations without the objective improving by a
//                     relative compress.plateau_tol
// With sparse coding and a target support, the last two also need every group's median
// support within 1 of compress.target_support.
#pragma once
#include <chrono>
#include <limits>
#include <string>

#include "compress/solver.h"

namespace moescope::compress {

class StopRules {
 public:
  explicit StopRules(const CompressConfig& cfg) : cfg_(cfg) {}
  // The reason to stop after this iteration, or "" to go on.
  std::string check(const IterationReport& r);

 private:
  CompressConfig cfg_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t since_best_ = 0;
};

// Copies of every group's factors, to keep the best state.
struct Snapshot {
  std::vector<at::Tensor> A, B, logits;
  void take(const std::vector<GroupState>& gs);
  void restore(std::vector<GroupState>& gs) const;
  bool empty() const { return A.empty(); }
};

// What both solvers do after every iteration: measure (factor_metrics.h), keep the best state
// (lowest objective), report, and apply the stop rules.
class SolveTracker {
 public:
  using Clock = std::chrono::steady_clock;
  SolveTracker(const CompressConfig& cfg, Activation f, const ReportFn& report);
  // After iteration `it` (0 = the initial state) that began at t0; true when the solver must stop.
  bool finish(const std::vector<GroupState>& gs, int64_t it, Clock::time_point t0);
  // Restores the best state into gs and returns the result.
  SolveResult done(std::vector<GroupState>& gs);

 private:
  CompressConfig cfg_;
  Activation f_;
  ReportFn report_;
  StopRules rules_;
  Snapshot best_;
  SolveResult res_;
  Clock::time_point t_start_ = Clock::now();
};

}  // namespace moescope::compress
