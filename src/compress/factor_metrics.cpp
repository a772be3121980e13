// factor_metrics.cpp: see factor_metrics.h.
#include "compress/factor_metrics.h"

#include <algorithm>
#include <cmath>

#include "compress/refit.h"
#include "run/log_fields.h"

namespace moescope::compress {

at::Tensor support_E(const at::Tensor& alpha_EM, double prune_eps) { return (alpha_EM > prune_eps).sum(1); }

double bank_coherence(const at::Tensor& B_MRD) {
  const int64_t M = B_MRD.size(0);
  if (M < 2) return 0.0;
  auto flat = B_MRD.reshape({M, -1}).to(torch::kDouble);
  auto n = flat / flat.norm(2, 1, true).clamp_min(1e-300);
  auto G = n.matmul(n.t()).abs() - torch::eye(M, n.options()) * 2.0;  // push the diagonal below 0
  return G.max().item<double>();
}

namespace {
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}
}  // namespace

GroupMetrics measure(const GroupState& g, Activation f, double prune_eps, double ridge) {
  torch::NoGradGuard ng;
  GroupMetrics m;
  m.group = g.name;
  m.family = g.family;
  m.layer = g.layer;
  auto alpha = mixture(g.logits_EM);
  auto C = combine(f, alpha, g.B_MRD);
  auto Zhat = g.A_EPR.bmm(C);
  m.nonfinite = (~torch::isfinite(g.A_EPR)).sum().item<int64_t>() + (~torch::isfinite(g.B_MRD)).sum().item<int64_t>() +
                (~torch::isfinite(g.logits_EM)).sum().item<int64_t>();
  // Per expert: isfinite forms abs(x) in x's dtype, a temporary of Zhat's size if done at once.
  for (int64_t e = 0; e < Zhat.size(0); ++e) m.nonfinite += (~torch::isfinite(Zhat[e])).sum().item<int64_t>();
  auto res = Zhat.neg_().add_(g.Z_EPD).mul_(g.std_E.view({-1, 1, 1}));  // (Z - Zhat) * std, in place
  const double sq = res.pow_(2).sum().item<double>();
  m.rel_error = std::sqrt(sq / std::max(g.w_norm2, 1e-300));
  m.mse = sq / static_cast<double>(res.numel());
  if (g.weight_E.defined()) {
    // ||W_i||^2 in original units from the z-scored targets: W_i = std_i Z_i + mean_i.
    auto W2_E = (g.Z_EPD * g.std_E.view({-1, 1, 1}) + g.mean_E.view({-1, 1, 1})).pow(2).sum({1, 2});
    const double num = (res.sum({1, 2}) * g.weight_E).sum().item<double>();  // res is squared in place above
    m.weighted_rel_error = std::sqrt(num / std::max((W2_E * g.weight_E).sum().item<double>(), 1e-300));
  }
  auto sup = support_E(alpha, prune_eps).to(torch::kDouble);
  std::vector<double> s(sup.data_ptr<double>(), sup.data_ptr<double>() + sup.numel());
  m.support_median = quantile(s, 0.5);
  m.support_p95 = quantile(s, 0.95);
  m.support_mean = sup.mean().item<double>();
  m.alpha_entropy = std::max(0.0, -(alpha * torch::log(alpha.clamp_min(1e-300))).sum(1).mean().item<double>());
  m.coherence = bank_coherence(g.B_MRD);
  m.cond = m.nonfinite ? INFINITY : max_refit_condition(C, ridge);
  return m;
}

IterationReport measure_all(const std::vector<GroupState>& gs, Activation f, const CompressConfig& cfg, int64_t iter) {
  IterationReport r;
  r.iter = iter;
  for (auto& g : gs) r.groups.push_back(measure(g, f, cfg.prune_eps, cfg.ridge));
  r.objective = objective(gs, f);
  return r;
}

nlohmann::json to_json(const GroupMetrics& m) {
  auto num = [](double v) -> nlohmann::json { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{log_field::kGroup, m.group},
                      {"layer", m.layer},
                      {"family", m.family},
                      {"rel_error", num(m.rel_error)},
                      {"mse", num(m.mse)},
                      {"support_median", m.support_median},
                      {"support_mean", m.support_mean},
                      {"support_p95", m.support_p95},
                      {"alpha_entropy", num(m.alpha_entropy)},
                      {"coherence", num(m.coherence)},
                      {"cond", num(m.cond)},
                      {"nonfinite", m.nonfinite}};
  if (m.weighted_rel_error >= 0) j["weighted_rel_error"] = num(m.weighted_rel_error);
  return j;
}

nlohmann::json iteration_record(const IterationReport& r, const std::string& solver) {
  nlohmann::json groups = nlohmann::json::array();
  for (auto& g : r.groups) groups.push_back(to_json(g));
  return {{log_field::kSchema, 1},
          {log_field::kType, log_field::kCompress},
          {log_field::kStep, r.iter},
          {"solver", solver},
          {"elapsed_s", r.elapsed_s},
          {"seconds", r.seconds},
          {"objective", std::isfinite(r.objective) ? nlohmann::json(r.objective) : nlohmann::json(nullptr)},
          {log_field::kGroups, groups}};
}

}  // namespace moescope::compress
