// solver_gradient.cpp: the gradient solver. Adam (full batch) on every group's A, B and alpha
// logits, minimising J = sum_groups sum_i w_i ||Z_i - A_i f(softmax(logits_i) B)||^2 / sum_i w_i ||Z_i||^2
// (solver.h; w = 1 unless weighted by routing) by autograd,
// learning rate cosine-decayed from compress.lr (the MoBE paper used 0.07) to
// lr * lr_min_ratio; the best state seen is kept. Iteration 0 reports the initial state.
#include <chrono>
#include <cmath>

#include "compress/factor_metrics.h"
#include "compress/solver.h"
#include "compress/stopping.h"

namespace moescope::compress {

SolveResult solve_gradient(std::vector<GroupState>& gs, const CompressConfig& cfg, Activation f,
                           const ReportFn& report) {
  using clock = std::chrono::steady_clock;
  std::vector<at::Tensor> params;
  for (auto& g : gs) {
    g.A_EPR = g.A_EPR.detach().clone().set_requires_grad(true);
    g.B_MRD = g.B_MRD.detach().clone().set_requires_grad(true);
    g.logits_EM = g.logits_EM.detach().clone().set_requires_grad(true);
    params.insert(params.end(), {g.A_EPR, g.B_MRD, g.logits_EM});
  }
  torch::optim::Adam opt(params, torch::optim::AdamOptions(cfg.lr));
  SolveTracker track(cfg, f, report);

  bool stop = track.finish(gs, 0, clock::now());
  for (int64_t it = 1; it <= cfg.max_iters && !stop; ++it) {
    const auto t0 = clock::now();
    const double progress = double(it - 1) / double(cfg.max_iters);
    const double lr = cfg.lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + std::cos(M_PI * progress)));
    for (auto& pg : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(pg.options()).lr(lr);
    opt.zero_grad();
    at::Tensor loss = torch::zeros({}, torch::kDouble);
    for (auto& g : gs) {
      auto Zhat = compose(f, g.A_EPR, mixture(g.logits_EM), g.B_MRD);
      auto err_E = (g.Z_EPD - Zhat).pow(2).sum({1, 2});
      if (g.weight_E.defined()) err_E = err_E * g.weight_E;
      loss = loss + err_E.sum() / std::max(weighted_z_norm2(g), 1e-300);
    }
    loss.backward();
    opt.step();
    stop = track.finish(gs, it, t0);
  }
  for (auto& g : gs) {
    g.A_EPR = g.A_EPR.detach();
    g.B_MRD = g.B_MRD.detach();
    g.logits_EM = g.logits_EM.detach();
  }
  return track.done(gs);
}

}  // namespace moescope::compress
