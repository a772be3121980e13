// basis_model_test.cpp: the composed forward against naive loops, the closed-form pieces
// (simplex projection, A refit) against references, the altmin's analytic gradients against
// autograd and finite differences in double precision, and the metrics on known values.
#include <gtest/gtest.h>

#include "compress/basis_model.h"
#include "compress/factor_metrics.h"
#include "compress/refit.h"
#include "compress/solver.h"
#include "../test_util.h"

using namespace moescope;
using namespace moescope::compress;

namespace {
GroupState random_state(Activation f, uint64_t seed) {
  torch::manual_seed(seed);
  auto o = torch::TensorOptions().dtype(torch::kDouble);
  GroupState g;
  g.name = "layer1.gate";
  g.Z_EPD = torch::randn({5, 6, 7}, o);
  g.A_EPR = torch::randn({5, 6, 3}, o);
  g.B_MRD = torch::randn({4, 3, 7}, o);
  g.logits_EM = torch::randn({5, 4}, o);
  g.std_E = torch::ones({5}, o);
  g.mean_E = torch::zeros({5}, o);
  g.w_norm2 = g.z_norm2 = g.Z_EPD.pow(2).sum().item<double>();
  (void)f;
  return g;
}
}  // namespace

TEST(BasisModel, ComposeMatchesNaiveLoops) {
  torch::manual_seed(1);
  auto o = torch::TensorOptions().dtype(torch::kDouble);
  auto A = torch::randn({3, 5, 4}, o), B = torch::randn({2, 4, 6}, o), logits = torch::randn({3, 2}, o);
  for (auto f : {Activation::kIdentity, Activation::kSilu, Activation::kTanh}) {
    auto alpha = mixture(logits);
    auto W = compose(f, A, alpha, B);
    for (int64_t e = 0; e < 3; ++e)
      EXPECT_LT((W[e] - compose_naive(f, A[e], alpha[e], B)).abs().max().item<double>(), 1e-12) << activation_name(f);
  }
}

TEST(BasisModel, ComposeGroupAddsMeanAndParsesActivations) {
  BasisGroup g;
  g.f = Activation::kTanh;
  g.A_EPR = torch::randn({2, 3, 2});
  g.B_MRD = torch::randn({2, 2, 4});
  g.logits_EM = torch::randn({2, 2});
  g.mean_E = torch::tensor({0.5, -1.0});
  auto W = compose_group(g);
  auto ref = compose(g.f, g.A_EPR, mixture(g.logits_EM), g.B_MRD) + g.mean_E.view({-1, 1, 1});
  EXPECT_LT((W - ref).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(g.num_params(), 12 + 16 + 4 + 2);
  EXPECT_EQ(parse_activation("silu"), Activation::kSilu);
  EXPECT_THROW(parse_activation("relu"), std::invalid_argument);
}

TEST(BasisModel, ActivationDerivativeMatchesAutograd) {
  auto x = torch::linspace(-4, 4, 41, torch::kDouble).requires_grad_(true);
  for (auto f : {Activation::kIdentity, Activation::kSilu, Activation::kTanh}) {
    auto g = torch::autograd::grad({apply_f(f, x).sum()}, {x})[0];
    EXPECT_LT((g - apply_f_prime(f, x.detach())).abs().max().item<double>(), 1e-12) << activation_name(f);
  }
}

TEST(Refit, SimplexProjectionIsTheNearestPointOnTheSimplex) {
  torch::manual_seed(2);
  auto v = torch::randn({50, 5}, torch::kDouble) * 2;
  auto p = project_simplex(v);
  EXPECT_LT((p.sum(1) - 1).abs().max().item<double>(), 1e-12);
  EXPECT_GE(p.min().item<double>(), 0.0);
  // No random simplex point is closer (a brute-force check of optimality).
  auto d = (v - p).pow(2).sum(1);
  for (int k = 0; k < 200; ++k) {
    auto q = torch::softmax(torch::randn({50, 5}, torch::kDouble) * 3, 1);
    EXPECT_TRUE(((v - q).pow(2).sum(1) >= d - 1e-12).all().item<bool>());
  }
  auto on = torch::softmax(torch::randn({4, 5}, torch::kDouble), 1);
  EXPECT_LT((project_simplex(on) - on).abs().max().item<double>(), 1e-12);
}

TEST(Refit, ClosedFormAMatchesLeastSquares) {
  torch::manual_seed(3);
  auto Z = torch::randn({4, 6, 9}, torch::kDouble), C = torch::randn({4, 3, 9}, torch::kDouble);
  auto A = refit_A(Z, C, 0.0);
  for (int64_t e = 0; e < 4; ++e) {
    // min_A ||Z - A C||: A^T = lstsq(C^T, Z^T)
    auto ref = std::get<0>(torch::linalg_lstsq(C[e].t(), Z[e].t(), c10::nullopt, c10::nullopt)).t();
    EXPECT_LT((A[e] - ref).abs().max().item<double>(), 1e-8);
  }
  EXPECT_GE(max_refit_condition(C, 0.0), 1.0);
  EXPECT_LT(max_refit_condition(C, 1e6), 1.01);  // a huge ridge makes the Gram ~ scaled identity
}

TEST(Refit, AnalyticGradientsMatchAutogradAndFiniteDifferences) {
  for (auto f : {Activation::kIdentity, Activation::kSilu, Activation::kTanh}) {
    GroupState g = random_state(f, 4);
    auto alpha = mixture(g.logits_EM).clone().requires_grad_(true);
    auto B = g.B_MRD.clone().requires_grad_(true);
    auto loss = [&] { return (g.Z_EPD - compose(f, g.A_EPR, alpha, B)).pow(2).sum(); };
    auto grads = torch::autograd::grad({loss()}, {alpha, B});
    torch::NoGradGuard ng;
    EXPECT_LT((error_grad_alpha(g, f, alpha.detach()) - grads[0]).abs().max().item<double>(), 1e-9)
        << activation_name(f);
    EXPECT_LT((error_grad_bank(g, f, alpha.detach(), B.detach()) - grads[1]).abs().max().item<double>(), 1e-9);
  }
  // And the autograd reference itself against central differences.
  GroupState g = random_state(Activation::kSilu, 5);
  auto alpha = mixture(g.logits_EM).clone().requires_grad_(true);
  auto B = g.B_MRD.clone().requires_grad_(true);
  double worst = moescope::testing::gradcheck(
      [&] { return (g.Z_EPD - compose(Activation::kSilu, g.A_EPR, alpha, B)).pow(2).sum(); }, {alpha, B});
  EXPECT_LT(worst, 1e-6);
}

TEST(Metrics, KnownValues) {
  auto B = torch::zeros({3, 1, 2}, torch::kDouble);
  B[0][0][0] = 1;                  // e1
  B[1][0][0] = 1, B[1][0][1] = 1;  // (e1 + e2) / sqrt2: cos 0.7071 with e1
  B[2][0][1] = -2;                 // -e2: |cos| 1/sqrt2 with basis 1, 0 with basis 0
  EXPECT_NEAR(bank_coherence(B), std::sqrt(0.5), 1e-12);
  EXPECT_EQ(bank_coherence(B.narrow(0, 0, 1)), 0.0);
  auto alpha = torch::tensor({{1.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.4, 0.3, 0.3}}, torch::kDouble);
  auto s = support_E(alpha, 1e-3);
  EXPECT_EQ(s[0].item<int64_t>(), 1);
  EXPECT_EQ(s[1].item<int64_t>(), 2);
  EXPECT_EQ(s[2].item<int64_t>(), 3);

  GroupState g;
  g.name = "layer1.up", g.family = "up", g.layer = 1;
  g.A_EPR = torch::ones({3, 2, 1}, torch::kDouble);
  g.B_MRD = B;
  g.logits_EM = logits_from_alpha(alpha);
  g.Z_EPD = compose(Activation::kIdentity, g.A_EPR, mixture(g.logits_EM), B);
  g.std_E = torch::full({3}, 2.0, torch::kDouble);
  g.mean_E = torch::zeros({3}, torch::kDouble);
  g.w_norm2 = 4 * g.Z_EPD.pow(2).sum().item<double>();
  g.z_norm2 = g.Z_EPD.pow(2).sum().item<double>();
  auto m = measure(g, Activation::kIdentity, 1e-3, 0.1);
  EXPECT_LT(m.rel_error, 1e-12);
  EXPECT_EQ(m.support_median, 2.0);
  EXPECT_NEAR(m.support_mean, 2.0, 1e-12);
  EXPECT_NEAR(m.alpha_entropy, (std::log(2.0) - (0.4 * std::log(0.4) + 0.6 * std::log(0.3))) / 3, 1e-9);
  EXPECT_EQ(m.nonfinite, 0);
  g.Z_EPD = g.Z_EPD + 1;  // error 1 per entry in normalised units = 2 in original units
  m = measure(g, Activation::kIdentity, 1e-3, 0.1);
  EXPECT_NEAR(m.mse, 4.0, 1e-12);
  auto rec = to_json(m);
  for (const char* k : {"group", "layer", "family", "rel_error", "mse", "support_median", "support_mean", "support_p95",
                        "alpha_entropy", "coherence", "cond", "nonfinite"})
    EXPECT_TRUE(rec.contains(k)) << k;
}
