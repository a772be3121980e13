// solver_altmin.cpp: the alternating-minimisation solver. Each iteration, per group:
//   1. coding: alpha_i = argmin over the simplex of ||Z_i - A_i f(sum_j alpha_ij B_j)||^2 by
//      projected gradient with per-expert backtracking (compress.code_steps steps, each accepted
//      only if it lowers that expert's error), then alpha = softmax(log alpha / T); sparse mode
//      prunes alpha < prune_eps, renormalises, and steers T toward the target support
//      (median support above target: T /= temperature_step, below: T *= temperature_step);
//   2. A refit: closed-form ridge least squares per expert, batched Cholesky (refit.h);
//   3. bank: f = identity: the ridge MOD update, one Cholesky solve of the (M R)^2 system
//        sum_i w_i kron(alpha_i alpha_i^T, A_i^T A_i) vec(B) = sum_i w_i alpha_i (x) A_i^T Z_i;
//      f = silu/tanh: compress.code_steps backtracking gradient steps on B. Either way the new bank is kept only
//      if it lowers the group's weighted residual sum_i w_i ||Z_i - A_i f(alpha_i B)||^2.
// w_i: the experts' objective weights (solver.h; 1 unless weighted by routing). Steps 1 and 2 are
// per expert, so the weights only change how the shared bank's capacity is spent.
// Legend: E experts, P rows, D width, R rank, M bases (basis_model.h).
#include <chrono>
#include <cmath>

#include "compress/factor_metrics.h"
#include "compress/refit.h"
#include "compress/solver.h"
#include "compress/stopping.h"

namespace moescope::compress {
namespace {

// Per-expert squared error ||Z_i - A_i f(alpha_i B)||^2 -> [E].
at::Tensor expert_errors(const GroupState& g, Activation f, const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  // (Zhat - Z)^2 == (Z - Zhat)^2 exactly; in place, so one temporary of Z's size (the streamed
  // compression holds a whole layer's experts in Z).
  return compose(f, g.A_EPR, alpha_EM, B_MRD).sub_(g.Z_EPD).pow_(2).sum({1, 2});
}

// Gradient of the summed error w.r.t. the pre-activation mixture pre_ERD = alpha B.
at::Tensor grad_pre(const GroupState& g, Activation f, const at::Tensor& pre_ERD) {
  auto C = apply_f(f, pre_ERD);
  auto res = g.A_EPR.bmm(C).neg_().add_(g.Z_EPD);  // Z - A C, in place
  return -2.0 * g.A_EPR.transpose(1, 2).bmm(res) * apply_f_prime(f, pre_ERD);
}

at::Tensor pre_mix(const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  const int64_t M = B_MRD.size(0), R = B_MRD.size(1), D = B_MRD.size(2);
  return alpha_EM.matmul(B_MRD.reshape({M, R * D})).reshape({-1, R, D});
}

}  // namespace

at::Tensor error_grad_alpha(const GroupState& g, Activation f, const at::Tensor& alpha_EM) {
  const int64_t M = g.B_MRD.size(0);
  auto gp = grad_pre(g, f, pre_mix(alpha_EM, g.B_MRD));  // [E, R, D]
  return gp.reshape({gp.size(0), -1}).matmul(g.B_MRD.reshape({M, -1}).t());
}

at::Tensor error_grad_bank(const GroupState& g, Activation f, const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  return torch::einsum("em,erd->mrd",
                       {alpha_EM * objective_weights(g).unsqueeze(1), grad_pre(g, f, pre_mix(alpha_EM, B_MRD))});
}

namespace {

// sum_i w_i ||Z_i - A_i f(alpha_i B)||^2: what a bank update must lower.
double weighted_error(const GroupState& g, Activation f, const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  return (expert_errors(g, f, alpha_EM, B_MRD) * objective_weights(g)).sum().item<double>();
}

at::Tensor code_alpha(const GroupState& g, Activation f, at::Tensor alpha, at::Tensor& step_E, int64_t steps) {
  auto err = expert_errors(g, f, alpha, g.B_MRD);
  for (int64_t s = 0; s < steps; ++s) {
    auto grad = error_grad_alpha(g, f, alpha);  // [E, M]
    auto cand = project_simplex(alpha - step_E.unsqueeze(1) * grad);
    auto cerr = expert_errors(g, f, cand, g.B_MRD);
    auto ok = cerr <= err;
    alpha = torch::where(ok.unsqueeze(1), cand, alpha);
    err = torch::where(ok, cerr, err);
    step_E = torch::where(ok, step_E * 1.5, step_E * 0.5).clamp(1e-12, 1e12);
  }
  return alpha;
}

at::Tensor bank_mod(const GroupState& g, const at::Tensor& alpha_EM, double ridge) {
  const int64_t M = g.B_MRD.size(0), R = g.B_MRD.size(1), D = g.B_MRD.size(2);
  auto AtA = g.A_EPR.transpose(1, 2).bmm(g.A_EPR);  // [E, R, R]
  auto AtZ = g.A_EPR.transpose(1, 2).bmm(g.Z_EPD);  // [E, R, D]
  auto walpha_EM = alpha_EM * objective_weights(g).unsqueeze(1);
  auto K = torch::einsum("ej,ek,eab->jakb", {walpha_EM, alpha_EM, AtA}).reshape({M * R, M * R});
  auto rhs = torch::einsum("ej,ead->jad", {walpha_EM, AtZ}).reshape({M * R, D});
  auto lam = ridge * K.diagonal().mean().item<double>() + 1e-12;
  K = K + lam * torch::eye(M * R, K.options());
  auto [L, info] = torch::linalg_cholesky_ex(K);
  if (info.item<int64_t>() != 0) return at::Tensor();
  return torch::cholesky_solve(rhs, L).reshape({M, R, D});
}

at::Tensor bank_gradient(const GroupState& g, Activation f, const at::Tensor& alpha_EM, double& step, int64_t steps) {
  auto B = g.B_MRD;
  double err = weighted_error(g, f, alpha_EM, B);
  for (int64_t s = 0; s < steps; ++s) {
    auto grad = error_grad_bank(g, f, alpha_EM, B);
    auto cand = B - step * grad;
    double cerr = weighted_error(g, f, alpha_EM, cand);
    if (cerr <= err) {
      B = cand, err = cerr, step *= 1.5;
    } else {
      step *= 0.5;
    }
  }
  return B;
}

}  // namespace

SolveResult solve_altmin(std::vector<GroupState>& gs, const CompressConfig& cfg, Activation f, const ReportFn& report) {
  torch::NoGradGuard ng;
  using clock = std::chrono::steady_clock;
  SolveTracker track(cfg, f, report);
  std::vector<at::Tensor> code_step(gs.size());
  std::vector<double> bank_step(gs.size()), temperature(gs.size(), cfg.temperature);
  for (size_t k = 0; k < gs.size(); ++k) {
    // Step sizes start at 1 / (2 ||A_i||^2 ||B||^2 / M), a Lipschitz-style scale, then adapt.
    auto a2 = gs[k].A_EPR.pow(2).sum({1, 2});
    const double b2 = gs[k].B_MRD.pow(2).sum().item<double>() / double(gs[k].B_MRD.size(0));
    code_step[k] = 1.0 / (2.0 * a2 * b2 + 1e-12);
    bank_step[k] = 1.0 / (2.0 * (a2 * objective_weights(gs[k])).sum().item<double>() + 1e-12);
  }

  bool stop = track.finish(gs, 0, clock::now());
  for (int64_t it = 1; it <= cfg.max_iters && !stop; ++it) {
    const auto t0 = clock::now();
    for (size_t k = 0; k < gs.size(); ++k) {
      auto& g = gs[k];
      // 1. coding
      auto alpha = code_alpha(g, f, mixture(g.logits_EM), code_step[k], cfg.code_steps);
      if (temperature[k] != 1.0) alpha = torch::softmax(torch::log(alpha.clamp_min(1e-300)) / temperature[k], 1);
      if (cfg.sparse) {
        auto kept = alpha * (alpha >= cfg.prune_eps);
        auto row = kept.sum(1, true);
        auto argmax = torch::zeros_like(alpha).scatter_(1, alpha.argmax(1, true), 1.0);
        alpha = torch::where(row > 0, kept / row.clamp_min(1e-300), argmax);
        if (cfg.target_support > 0) {
          const double med = support_E(alpha, cfg.prune_eps).to(torch::kDouble).median().item<double>();
          if (med > double(cfg.target_support)) temperature[k] /= cfg.temperature_step;
          else if (med < double(cfg.target_support)) temperature[k] *= cfg.temperature_step;
        }
      }
      g.logits_EM = logits_from_alpha(alpha);
      alpha = mixture(g.logits_EM);
      // 2. A refit
      g.A_EPR = refit_A(g.Z_EPD, combine(f, alpha, g.B_MRD), cfg.ridge);
      // 3. bank update, kept only if it lowers the residual
      const double before = weighted_error(g, f, alpha, g.B_MRD);
      at::Tensor B_new = f == Activation::kIdentity ? bank_mod(g, alpha, cfg.bank_ridge)
                                                    : bank_gradient(g, f, alpha, bank_step[k], cfg.code_steps);
      if (B_new.defined() && torch::isfinite(B_new).all().item<bool>() && weighted_error(g, f, alpha, B_new) < before)
        g.B_MRD = B_new;
    }
    stop = track.finish(gs, it, t0);
  }
  return track.done(gs);
}

}  // namespace moescope::compress
