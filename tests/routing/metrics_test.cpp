// metrics_test.cpp: the routing-health formulas on hand-built count vectors.
#include <cmath>

#include <gtest/gtest.h>

#include "routing/metrics.h"

using namespace moescope;

TEST(ScopeMetrics, UniformLoad) {
  auto m = load_metrics({25, 25, 25, 25});
  EXPECT_NEAR(m.entropy_norm, 1.0, 1e-12);
  EXPECT_NEAR(m.n_eff, 4.0, 1e-12);
  EXPECT_NEAR(m.cv, 0.0, 1e-12);
  EXPECT_NEAR(m.min_max_ratio, 1.0, 1e-12);
  EXPECT_NEAR(m.maxvio, 0.0, 1e-12);
  EXPECT_TRUE(m.dead.empty());
  EXPECT_EQ(m.total, 100);
}

TEST(ScopeMetrics, SkewedLoadByHand) {
  // counts 60, 20, 20, 0: loads .6 .2 .2 0
  auto m = load_metrics({60, 20, 20, 0});
  const double H = -(0.6 * std::log(0.6) + 2 * 0.2 * std::log(0.2));
  EXPECT_NEAR(m.entropy_norm, H / std::log(4.0), 1e-12);
  EXPECT_NEAR(m.n_eff, std::exp(H), 1e-12);
  const double var = ((0.6 - .25) * (0.6 - .25) + 2 * (0.2 - .25) * (0.2 - .25) + .25 * .25) / 4;
  EXPECT_NEAR(m.cv, std::sqrt(var) / 0.25, 1e-12);
  EXPECT_NEAR(m.min_max_ratio, 0.0, 1e-12);
  EXPECT_NEAR(m.maxvio, (60 - 25.0) / 25.0, 1e-12);
  EXPECT_EQ(m.dead, (std::vector<int64_t>{3}));
  EXPECT_EQ(m.argmax, 0);
  EXPECT_NEAR(m.max_share, 0.6, 1e-12);
}

TEST(ScopeMetrics, CollapsedAndEmpty) {
  auto m = load_metrics({0, 40, 0, 0});
  EXPECT_NEAR(m.entropy_norm, 0.0, 1e-12);
  EXPECT_NEAR(m.n_eff, 1.0, 1e-12);
  EXPECT_NEAR(m.maxvio, 3.0, 1e-12);
  EXPECT_EQ(m.dead.size(), 3u);
  auto z = load_metrics({0, 0});
  EXPECT_EQ(z.total, 0);
  EXPECT_EQ(z.maxvio, 0.0);
  EXPECT_EQ(z.dead.size(), 2u);
}

TEST(ScopeMetrics, EntropyOfARowAndTrend) {
  const double p[4] = {0.25, 0.25, 0.25, 0.25}, q[4] = {1, 0, 0, 0};
  EXPECT_NEAR(normalised_entropy(p, 4), 1.0, 1e-12);
  EXPECT_NEAR(normalised_entropy(q, 4), 0.0, 1e-12);
  EXPECT_NEAR(trend_slope({1.0, 0.9, 0.8, 0.7}), -0.1, 1e-12);
  EXPECT_NEAR(trend_slope({0.5}), 0.0, 1e-12);
}

TEST(ScopeMetrics, TokensPerExpertSpreadByHand) {
  // Sorted counts 0 10 20 30 40: rank q * 4, linear between neighbours.
  auto s = count_spread({40, 0, 30, 10, 20});
  EXPECT_DOUBLE_EQ(s.p50, 20.0);
  EXPECT_DOUBLE_EQ(s.p90, 36.0);  // rank 3.6
  EXPECT_DOUBLE_EQ(s.p99, 39.6);  // rank 3.96
  EXPECT_DOUBLE_EQ(s.min, 0.0);
  EXPECT_DOUBLE_EQ(s.max, 40.0);
  EXPECT_NEAR(s.cv, std::sqrt(200.0) / 20.0, 1e-12);  // population std sqrt(200), mean 20
  auto m = load_metrics({40, 0, 30, 10, 20});
  EXPECT_DOUBLE_EQ(m.spread.p90, 36.0);
  EXPECT_NEAR(m.spread.cv, m.cv, 1e-12);  // the CV of the counts is the CV of the loads
  auto e = count_spread({});
  EXPECT_EQ(e.max, 0.0);
  EXPECT_EQ(count_spread({0, 0}).cv, 0.0);
}

TEST(ScopeMetrics, StarvedExpertsAndTokenShare) {
  // Top-2, 500 tokens (1000 slots), E = 5 (fair share 20%): expert 3 has exactly 1% of the
  // slots (1/20 of the fair share), expert 4 0.5%. The bar is ratio / E.
  auto m = load_metrics({480, 445, 60, 10, 5}, 2);
  EXPECT_EQ(starved_experts(m, 0.05), (std::vector<int64_t>{4}));  // below, not at, the share
  EXPECT_EQ(starved_experts(m, 0.0505), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(starved_experts(m, 0.31), (std::vector<int64_t>{2, 3, 4}));  // 6% < 0.31 / 5 = 6.2%
  EXPECT_NEAR(m.max_share, 0.48, 1e-12);
  EXPECT_NEAR(m.max_token_share, 0.96, 1e-12);                          // 480 of the 500 tokens chose expert 0
  EXPECT_TRUE(starved_experts(load_metrics({0, 0, 0}), 0.01).empty());  // no slots: nothing starved
}

TEST(ScopeMetrics, StarvationIsRelativeToTheFairShareSoABalancedWideLayerHasNone) {
  // Perfectly balanced layers at E = 128 and 256: every load is exactly the fair share 1/E
  // (under an absolute 1% every one of them was starved).
  for (int64_t E : {8, 16, 128, 256}) {
    auto m = load_metrics(std::vector<int64_t>(static_cast<size_t>(E), 40), 8);
    EXPECT_TRUE(starved_experts(m, 0.2).empty()) << E;
    EXPECT_EQ(starved_experts(m, 1.0001).size(), static_cast<size_t>(E)) << E;  // a bar above the fair share
  }
  // 128 experts, one at 15% of its fair share: starved at ratio 0.2, not at 0.1.
  std::vector<int64_t> c(128, 100);
  c[7] = 15;
  auto m = load_metrics(c, 8);
  EXPECT_EQ(starved_experts(m, 0.2), (std::vector<int64_t>{7}));
  EXPECT_TRUE(starved_experts(m, 0.1).empty());
}

TEST(ScopeMetrics, JudgedNeedsSlotsPerExpert) {
  EXPECT_TRUE(load_judged(load_metrics(std::vector<int64_t>(128, 10)), 10.0));  // exactly 10 per expert
  EXPECT_FALSE(load_judged(load_metrics(std::vector<int64_t>(128, 9)), 10.0));
  std::vector<int64_t> skew(128, 0);
  skew[0] = 1280;  // the mean, not each expert, counts
  EXPECT_TRUE(load_judged(load_metrics(skew), 10.0));
  EXPECT_FALSE(load_judged(load_metrics({0, 0, 0}), 0.0));  // no slots: never judged
}

TEST(ScopeMetrics, ImbalancedBarIsAMultipleOfTheUniformTokenShareCappedAtTheDominantBar) {
  // Naive reference: min(d K / E, base + (1 - base)(K - 1)/(E - 1)).
  for (int64_t E : {8, 16, 32, 64, 128, 256})
    for (int64_t K : {1, 2, 4, 8}) {
      if (K >= E) continue;
      const double s = 0.5 + 0.5 * double(K - 1) / double(E - 1);
      EXPECT_NEAR(imbalanced_token_share(4.0, 0.5, K, E), std::min(4.0 * K / E, s), 1e-15) << K << " of " << E;
      EXPECT_LE(imbalanced_token_share(4.0, 0.5, K, E), dominant_token_share(0.5, K, E));
      EXPECT_GT(imbalanced_token_share(4.0, 0.5, K, E), double(K) / E);  // above the uniform share
    }
  EXPECT_DOUBLE_EQ(imbalanced_token_share(4.0, 0.5, 1, 128), 0.03125);
  EXPECT_DOUBLE_EQ(imbalanced_token_share(4.0, 0.5, 8, 128), 0.25);
  EXPECT_NEAR(imbalanced_token_share(4.0, 0.5, 2, 8), 0.5 + 0.5 / 7.0, 1e-15);  // the cap
}

TEST(ScopeMetrics, DominantBarAndStarvedCriticalCount) {
  // base + (1 - base) (K - 1) / (E - 1): top-1 keeps the base; K = E can never be dominated.
  EXPECT_DOUBLE_EQ(dominant_token_share(0.5, 1, 8), 0.5);
  EXPECT_NEAR(dominant_token_share(0.5, 2, 8), 0.5 + 0.5 / 7.0, 1e-15);
  EXPECT_NEAR(dominant_token_share(0.5, 4, 8), 0.5 + 1.5 / 7.0, 1e-15);
  EXPECT_NEAR(dominant_token_share(0.5, 4, 16), 0.6, 1e-15);
  EXPECT_DOUBLE_EQ(dominant_token_share(0.5, 8, 8), 1.0);
  EXPECT_DOUBLE_EQ(dominant_token_share(0.5, 1, 1), 1.0);
  // The uniform share K/E is always below the bar for K < E when E >= 3 (at top-1 of 2 the bar
  // is the uniform share itself, 0.5).
  EXPECT_DOUBLE_EQ(dominant_token_share(0.5, 1, 2), 0.5);
  for (int64_t E : {3, 4, 8, 16, 32, 64, 256})
    for (int64_t K = 1; K < E; ++K)
      EXPECT_LT(static_cast<double>(K) / E, dominant_token_share(0.5, K, E)) << K << " of " << E;
  // max(min_count, ceil(fraction * E)).
  EXPECT_EQ(starved_critical_count(2, 0.25, 4), 2);
  EXPECT_EQ(starved_critical_count(2, 0.25, 8), 2);
  EXPECT_EQ(starved_critical_count(2, 0.25, 16), 4);
  EXPECT_EQ(starved_critical_count(2, 0.25, 32), 8);
  EXPECT_EQ(starved_critical_count(2, 0.25, 10), 3);  // 2.5 rounds up
  EXPECT_EQ(starved_critical_count(2, 0.0, 64), 2);
}
