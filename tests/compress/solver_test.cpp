// solver_test.cpp: planted recovery (experts generated from a known basis are reconstructed
// to a relative error < 1e-3 by both solvers), the initialisers, and the stopping rules.
#include <gtest/gtest.h>

#include "compress/basis_init.h"
#include "compress/factor_metrics.h"
#include "compress/stopping.h"
#include "compress_test_util.h"

using namespace moescope;
using namespace moescope::compress;

namespace {
// Solves a planted problem from scratch; returns the final relative error of W.
// Without normalisation the planted W = A f(alpha B) is exactly in the model class; with it
// (normalise = true) the experts are weight-scaled, offset and centred (compress_test_util.h).
// 16 experts of 10 x 32, rank 4, 2 bases; 8 initialisations (init.h multi-start), then the solver.
// (With 3+ bases and soft mixtures the landscape has local minima that 8 starts do not always
// escape; see docs/compression.md.)
double recover(const std::string& solver, Activation f, const std::string& init, int64_t iters,
               std::vector<IterationReport>* log = nullptr, bool normalise = false, int64_t restarts = 8) {
  const int64_t E = 16, P = 10, D = 32, R = 4, M = 2;
  auto p = normalise ? moescope::testing::planted(E, P, D, R, M, f, 11, 0.02, 0.001, true)
                     : moescope::testing::planted(E, P, D, R, M, f, 11);
  auto groups = build_groups({{1, "gate", p.W_EPD}}, BankScope::kLayer, normalise);
  CompressConfig cfg;
  cfg.solver = parse_enum_or_throw<Solver>("solver", solver);
  cfg.activation = f;
  cfg.normalise = normalise;
  cfg.max_iters = iters;
  cfg.plateau_iters = 0;
  cfg.target_rel_error = 1e-5;
  cfg.init = parse_enum_or_throw<InitMethod>("init", init);
  RestartOptions ro;
  ro.restarts = restarts;
  ro.iters = solver == "altmin" ? 60 : 300;
  initialise_multistart(groups[0], cfg, R, M, f, 1, ro);
  auto res = solve(groups, cfg, f, [&](const IterationReport& r) {
    if (log) log->push_back(r);
  });
  EXPECT_GE(res.iters, 1);
  return measure(groups[0], f, cfg.prune_eps, cfg.ridge).rel_error;
}
}  // namespace

TEST(PlantedRecovery, AltminIdentity) {
  std::vector<IterationReport> log;
  const double err = recover("altmin", Activation::kIdentity, "svd", 400, &log);
  RecordProperty("rel_error", std::to_string(err));
  std::cout << "[planted] altmin identity rel_error " << err << " after " << log.size() - 1 << " iterations\n";
  EXPECT_LT(err, 1e-3);
  ASSERT_GE(log.size(), 2u);
  EXPECT_LT(log.back().objective, log.front().objective);
}

TEST(PlantedRecovery, GradientIdentity) {
  std::vector<IterationReport> log;
  const double err = recover("gradient", Activation::kIdentity, "svd", 3000, &log);
  std::cout << "[planted] gradient identity rel_error " << err << " after " << log.size() - 1 << " iterations\n";
  EXPECT_LT(err, 1e-3);
}

TEST(PlantedRecovery, BothSolversWithNormalisation) {
  const double a = recover("altmin", Activation::kIdentity, "svd", 800, nullptr, true, 12);
  const double g = recover("gradient", Activation::kIdentity, "svd", 3000, nullptr, true);
  std::cout << "[planted] z-scored: altmin rel_error " << a << ", gradient rel_error " << g << "\n";
  EXPECT_LT(a, 1e-3);
  EXPECT_LT(g, 1e-3);
}

TEST(PlantedRecovery, GradientTanh) {
  const double err = recover("gradient", Activation::kTanh, "svd", 3000);
  std::cout << "[planted] gradient tanh rel_error " << err << "\n";
  EXPECT_LT(err, 1e-3);
}

// altmin's bank step for a nonlinear f is plain backtracking gradient descent (no closed form),
// so within this budget it only gets part of the way: checked for halving the error.
TEST(PlantedRecovery, AltminTanhReducesError) {
  std::vector<IterationReport> log;
  const double err = recover("altmin", Activation::kTanh, "svd", 200, &log, false, 1);
  std::cout << "[planted] altmin tanh rel_error " << err << " (from " << log.front().groups[0].rel_error << ")\n";
  EXPECT_LT(err, 0.5 * log.front().groups[0].rel_error);
}

TEST(Init, EveryMethodGivesFiniteFactorsAndAltminNeverGetsWorse) {
  for (const char* init : {"svd", "pca", "random"}) {
    std::vector<IterationReport> log;
    recover("altmin", Activation::kIdentity, init, 15, &log, false, 1);
    ASSERT_FALSE(log.empty());
    for (auto& r : log) EXPECT_EQ(r.groups[0].nonfinite, 0) << init;
    for (size_t i = 1; i < log.size(); ++i)
      EXPECT_LE(log[i].objective, log[i - 1].objective * (1 + 1e-9)) << init << " iter " << i;
  }
}

TEST(Init, KMeansSeparatesClusters) {
  auto X =
      torch::cat({torch::randn({5, 8}, torch::kDouble) * 0.01 + torch::ones({1, 8}, torch::kDouble),
                  torch::randn({5, 8}, torch::kDouble) * 0.01 - torch::arange(8, torch::kDouble).view({1, 8}) + 3.5});
  auto l = kmeans_cosine(X, 2, 1);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(l[i], l[0]);
  for (int i = 6; i < 10; ++i) EXPECT_EQ(l[i], l[5]);
  EXPECT_NE(l[0], l[5]);
}

TEST(Sparse, TemperatureSteersSupportTowardTarget) {
  const int64_t E = 16, P = 8, D = 12, R = 4, M = 6;
  auto p = moescope::testing::planted(E, P, D, R, M, Activation::kIdentity, 5);
  auto groups = build_groups({{2, "up", p.W_EPD}}, BankScope::kLayer, true);
  CompressConfig cfg;
  cfg.sparse = true;
  cfg.target_support = 2;
  cfg.max_iters = 60;
  cfg.plateau_iters = 5;
  initialise(groups[0], InitMethod::kPca, R, M, Activation::kIdentity, cfg.ridge, 1);  // pca: uniform alpha, support M
  std::vector<IterationReport> log;
  auto res = solve(groups, cfg, Activation::kIdentity, [&](const IterationReport& r) { log.push_back(r); });
  EXPECT_EQ(log.front().groups[0].support_median, double(M));
  EXPECT_LE(std::abs(log.back().groups[0].support_median - 2.0), 1.0) << res.stop_reason;
}

TEST(Stopping, Rules) {
  CompressConfig c;
  c.plateau_iters = 2;
  c.plateau_tol = 0.01;
  IterationReport r;
  r.groups.resize(1);
  r.groups[0].rel_error = 0.5;
  StopRules s(c);
  r.objective = 1.0;
  EXPECT_EQ(s.check(r), "");
  r.objective = 0.995;  // < 1% better: no progress
  EXPECT_EQ(s.check(r), "");
  EXPECT_EQ(s.check(r), "plateau");

  CompressConfig t;
  t.target_rel_error = 0.1;
  StopRules s2(t);
  r.objective = 1.0;
  EXPECT_EQ(s2.check(r), "");
  r.groups[0].rel_error = 0.05;
  EXPECT_EQ(s2.check(r), "target_rel_error");
  t.sparse = true, t.target_support = 2;  // ... but only with the support within 1 of the target
  StopRules s3(t);
  r.groups[0].support_median = 4;
  EXPECT_EQ(s3.check(r), "");
  r.groups[0].support_median = 3;
  EXPECT_EQ(s3.check(r), "target_rel_error");

  CompressConfig h;
  h.max_coherence = 0.9;
  StopRules s4(h);
  r.groups[0].coherence = 0.95;
  EXPECT_EQ(s4.check(r), "coherence");
  StopRules s5(CompressConfig{});
  r.groups[0].coherence = 0;
  r.groups[0].nonfinite = 3;
  EXPECT_EQ(s5.check(r), "nonfinite");
}

TEST(Stopping, NonFiniteStopsAtOnceAndKeepsTheBestState) {
  auto p = moescope::testing::planted(8, 6, 10, 3, 2, Activation::kIdentity, 2);
  auto groups = build_groups({{1, "gate", p.W_EPD}}, BankScope::kLayer, true);
  CompressConfig cfg;
  cfg.solver = Solver::kGradient;
  cfg.lr = 1e200;  // the first step overflows to Inf/NaN
  cfg.max_iters = 50;
  initialise(groups[0], InitMethod::kSvd, 3, 2, Activation::kIdentity, cfg.ridge, 1);
  const double before = objective(groups, Activation::kIdentity);
  std::vector<IterationReport> log;
  auto res = solve(groups, cfg, Activation::kIdentity, [&](const IterationReport& r) { log.push_back(r); });
  EXPECT_EQ(res.stop_reason, "nonfinite");
  EXPECT_LE(res.iters, 3);
  EXPECT_EQ(res.best_iter, 0);
  EXPECT_NEAR(objective(groups, Activation::kIdentity), before, 1e-12);  // the initial state restored
}
