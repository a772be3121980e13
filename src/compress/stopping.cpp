// stopping.cpp: see stopping.h; also the solvers' shared objective and dispatch.
#include "compress/stopping.h"

#include <cmath>
#include <stdexcept>

#include "compress/factor_metrics.h"

namespace moescope::compress {

std::string StopRules::check(const IterationReport& r) {
  bool support_ok = true;
  bool all_below = cfg_.target_rel_error > 0;
  for (auto& g : r.groups) {
    if (g.nonfinite > 0 && cfg_.stop_on_nonfinite) return "nonfinite";
    if (cfg_.max_coherence > 0 && g.coherence > cfg_.max_coherence) return "coherence";
    if (cfg_.sparse && cfg_.target_support > 0 && std::abs(g.support_median - double(cfg_.target_support)) > 1)
      support_ok = false;
    if (!(g.rel_error <= cfg_.target_rel_error)) all_below = false;
  }
  if (!std::isfinite(r.objective) && cfg_.stop_on_nonfinite) return "nonfinite";
  if (all_below && support_ok) return "target_rel_error";
  if (r.objective < best_ * (1 - cfg_.plateau_tol)) {
    best_ = r.objective;
    since_best_ = 0;
  } else {
    ++since_best_;
  }
  if (cfg_.plateau_iters > 0 && since_best_ >= cfg_.plateau_iters && support_ok) return "plateau";
  return "";
}

void Snapshot::take(const std::vector<GroupState>& gs) {
  A.clear(), B.clear(), logits.clear();
  for (auto& g : gs) {
    A.push_back(g.A_EPR.detach().clone());
    B.push_back(g.B_MRD.detach().clone());
    logits.push_back(g.logits_EM.detach().clone());
  }
}

void Snapshot::restore(std::vector<GroupState>& gs) const {
  for (size_t i = 0; i < gs.size(); ++i) {
    gs[i].A_EPR = A[i].clone();
    gs[i].B_MRD = B[i].clone();
    gs[i].logits_EM = logits[i].clone();
  }
}

at::Tensor objective_weights(const GroupState& g) {
  if (g.weight_E.defined()) return g.weight_E;
  return torch::ones({g.Z_EPD.size(0)}, g.Z_EPD.options().dtype(torch::kDouble));
}

void set_objective_weights(GroupState& g, at::Tensor w_E) {
  if (w_E.dim() != 1 || w_E.size(0) != g.Z_EPD.size(0))
    throw std::invalid_argument("compress: " + g.name + ": " + std::to_string(w_E.numel()) + " objective weights for " +
                                std::to_string(g.Z_EPD.size(0)) + " experts");
  g.weight_E = w_E.to(torch::kDouble);
  g.wz_norm2 = (g.Z_EPD.pow(2).sum({1, 2}).to(torch::kDouble) * g.weight_E).sum().item<double>();
}

double weighted_z_norm2(const GroupState& g) { return g.weight_E.defined() ? g.wz_norm2 : g.z_norm2; }

double group_objective(const GroupState& g, Activation f) {
  torch::NoGradGuard ng;
  auto Zhat = compose(f, g.A_EPR, mixture(g.logits_EM), g.B_MRD);
  auto err_E = Zhat.neg_().add_(g.Z_EPD).pow_(2).sum({1, 2});  // in place
  const double num = g.weight_E.defined() ? (err_E * g.weight_E).sum().item<double>() : err_E.sum().item<double>();
  return num / std::max(weighted_z_norm2(g), 1e-300);
}

double objective(const std::vector<GroupState>& gs, Activation f) {
  double j = 0;
  for (auto& g : gs) j += group_objective(g, f);
  return j;
}

SolveResult solve(std::vector<GroupState>& groups, const CompressConfig& cfg, Activation f, const ReportFn& report) {
  switch (cfg.solver) {
    case Solver::kGradient: return solve_gradient(groups, cfg, f, report);
    case Solver::kAltmin: return solve_altmin(groups, cfg, f, report);
  }
  throw std::invalid_argument(std::string("compress.solver = '") + enum_name(cfg.solver) +
                              "': must be gradient or altmin");
}

SolveTracker::SolveTracker(const CompressConfig& cfg, Activation f, const ReportFn& report)
    : cfg_(cfg), f_(f), report_(report), rules_(cfg) {
  res_.best_objective = INFINITY;
  res_.stop_reason = "max_iters";
}

bool SolveTracker::finish(const std::vector<GroupState>& gs, int64_t it, Clock::time_point t0) {
  IterationReport r = measure_all(gs, f_, cfg_, it);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.elapsed_s = std::chrono::duration<double>(Clock::now() - t_start_).count();
  res_.iters = it;
  if (std::isfinite(r.objective) && r.objective < res_.best_objective) {
    res_.best_objective = r.objective;
    res_.best_iter = it;
    best_.take(gs);
  }
  if (report_) report_(r);
  const std::string why = rules_.check(r);
  if (!why.empty()) res_.stop_reason = why;
  return !why.empty();
}

SolveResult SolveTracker::done(std::vector<GroupState>& gs) {
  if (!best_.empty()) best_.restore(gs);
  return res_;
}

}  // namespace moescope::compress
