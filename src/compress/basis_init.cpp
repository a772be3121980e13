// basis_init.cpp: see basis_init.h.
#include "compress/basis_init.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "compress/refit.h"

namespace moescope::compress {

std::vector<int64_t> kmeans_cosine(const at::Tensor& X_EF, int64_t K, uint64_t seed, int64_t iters) {
  const int64_t E = X_EF.size(0);
  auto X = X_EF / X_EF.norm(2, 1, true).clamp_min(1e-300);
  std::mt19937_64 rng(seed);
  // k-means++ seeding on 1 - cos.
  std::vector<int64_t> centres{static_cast<int64_t>(rng() % static_cast<uint64_t>(E))};
  while (static_cast<int64_t>(centres.size()) < K) {
    auto C = X.index_select(0, torch::tensor(centres, torch::kLong));
    auto d = (1 - X.matmul(C.t())).clamp_min(0).amin(1);  // [E]
    auto dv = d.contiguous();
    std::vector<double> w(dv.data_ptr<double>(), dv.data_ptr<double>() + E);
    double tot = 0;
    for (double v : w) tot += v;
    int64_t pick = static_cast<int64_t>(rng() % static_cast<uint64_t>(E));
    if (tot > 0) pick = std::discrete_distribution<int64_t>(w.begin(), w.end())(rng);
    centres.push_back(pick);
  }
  auto C = X.index_select(0, torch::tensor(centres, torch::kLong)).clone();
  at::Tensor labels;
  for (int64_t it = 0; it < iters; ++it) {
    labels = X.matmul(C.t()).argmax(1);
    for (int64_t k = 0; k < K; ++k) {
      auto mask = labels == k;
      if (mask.sum().item<int64_t>() == 0) continue;  // keep the old centre
      auto c = X.index({mask}).sum(0);
      C[k] = c / c.norm().clamp_min(1e-300);
    }
  }
  labels = labels.contiguous();
  return std::vector<int64_t>(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + E);
}

namespace {
// Top-R right singular vectors of rows X_ND as an [R, D] basis scaled by sqrt(D).
at::Tensor top_directions(const at::Tensor& X_ND, int64_t R, int64_t D) {
  auto Vh = std::get<2>(torch::linalg_svd(X_ND, /*full_matrices=*/false));  // [min(N,D), D]
  auto B = torch::zeros({R, D}, X_ND.options());
  const int64_t k = std::min<int64_t>(R, Vh.size(0));
  B.narrow(0, 0, k).copy_(Vh.narrow(0, 0, k));
  return B * std::sqrt(double(D));
}
}  // namespace

void initialise(GroupState& g, InitMethod method, int64_t R, int64_t M, Activation f, double ridge, uint64_t seed) {
  torch::NoGradGuard ng;
  const int64_t E = g.Z_EPD.size(0), P = g.Z_EPD.size(1), D = g.Z_EPD.size(2);
  if (R < 1 || R > P)
    throw std::invalid_argument("compress: rank " + std::to_string(R) + " must be in [1, " + std::to_string(P) +
                                "] for " + g.name);
  if (M < 1 || M > E)
    throw std::invalid_argument("compress: " + std::to_string(M) + " bases must be in [1, " + std::to_string(E) +
                                "] for " + g.name);
  auto opts = g.Z_EPD.options();
  auto gen = at::detail::createCPUGenerator(seed);
  if (method == InitMethod::kSvd) {
    auto sig = g.Z_EPD.transpose(1, 2).bmm(g.Z_EPD).reshape({E, D * D});
    auto labels = kmeans_cosine(sig, M, seed);
    g.B_MRD = torch::empty({M, R, D}, opts);
    g.logits_EM = torch::zeros({E, M}, opts);
    for (int64_t j = 0; j < M; ++j) {
      std::vector<int64_t> members;
      for (int64_t e = 0; e < E; ++e)
        if (labels[e] == j) members.push_back(e);
      if (members.empty()) {
        g.B_MRD[j] = torch::randn({R, D}, gen, opts);
        continue;
      }
      auto rows = g.Z_EPD.index_select(0, torch::tensor(members, torch::kLong)).reshape({-1, D});
      g.B_MRD[j] = top_directions(rows, R, D);
      for (int64_t e : members) g.logits_EM[e][j] = 3.0;
    }
  } else if (method == InitMethod::kPca) {
    auto rows = g.Z_EPD.reshape({E * P, D});
    auto weighted = rows * rows.norm(2, 1, true);  // row r enters the scatter as ||r||^2 r r^T
    auto B0 = top_directions(weighted, R, D);
    g.B_MRD = B0.unsqueeze(0).repeat({M, 1, 1});
    if (M > 1) g.B_MRD.narrow(0, 1, M - 1).add_(0.3 * torch::randn({M - 1, R, D}, gen, opts));
    g.logits_EM = torch::zeros({E, M}, opts);
  } else if (method == InitMethod::kRandom) {
    g.B_MRD = torch::randn({M, R, D}, gen, opts);
    g.logits_EM = 0.1 * torch::randn({E, M}, gen, opts);
  } else {
    throw std::invalid_argument(std::string("compress.init = '") + enum_name(method) + "': must be svd, pca or random");
  }
  g.A_EPR = refit_A(g.Z_EPD, combine(f, mixture(g.logits_EM), g.B_MRD), ridge);
}

void initialise_multistart(GroupState& g, const CompressConfig& cfg, int64_t R, int64_t M, Activation f, uint64_t seed,
                           const RestartOptions& opt) {
  if (opt.restarts < 1) throw std::invalid_argument("compress: restarts must be >= 1");
  initialise(g, cfg.init, R, M, f, cfg.ridge, seed);
  if (opt.restarts == 1) return;
  const std::vector<InitMethod> methods{InitMethod::kSvd, InitMethod::kPca, InitMethod::kRandom};
  size_t start = 0;
  while (start < methods.size() && methods[start] != cfg.init) ++start;
  CompressConfig trial = cfg;
  trial.max_iters = std::max<int64_t>(1, opt.iters);
  trial.plateau_iters = 0;
  double best = INFINITY;
  GroupState best_state;
  for (int64_t k = 0; k < opt.restarts; ++k) {
    std::vector<GroupState> one{g};
    if (k > 0)
      initialise(one[0], methods[(start + k) % methods.size()], R, M, f, cfg.ridge, seed + static_cast<uint64_t>(k));
    solve(one, trial, f, nullptr);
    const double j = group_objective(one[0], f);
    if (std::isfinite(j) && j < best) best = j, best_state = one[0];
  }
  if (std::isfinite(best)) g = best_state;
}

}  // namespace moescope::compress
