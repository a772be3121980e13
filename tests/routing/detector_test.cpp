// detector_test.cpp: collapse-detector rules on synthetic metric streams.
#include <gtest/gtest.h>

#include <cmath>

#include "routing/detector.h"

using namespace moescope;

namespace {
ScopeConfig cfg(int64_t window = 3) {
  ScopeConfig c;
  c.window = window;
  return c;
}
const std::vector<int64_t> kHealthy = {26, 24, 25, 25, 27, 23, 25, 25};
const std::vector<int64_t> kCollapsed = {180, 5, 5, 4, 3, 1, 1, 1};  // one expert holds 90%
IntervalSignals sig(double maxvio_batch, double drop_rate = 0) { return {maxvio_batch, drop_rate}; }
bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
std::vector<std::string> rules(const std::vector<Alert>& a) {
  std::vector<std::string> r;
  for (auto& x : a) r.push_back(x.rule);
  return r;
}
}  // namespace

TEST(Detector, HealthyStreamNeverFires) {
  CollapseDetector d(cfg());
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(d.observe(10 * i, 1, load_metrics(kHealthy), sig(0.1)).empty());
  EXPECT_EQ(d.status(1), "ok");
}

TEST(Detector, CollapseFiresAfterWindowWithItsStartStep) {
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 5; ++i) d.observe(10 * i, 2, load_metrics(kHealthy), sig(0.1));
  EXPECT_TRUE(d.observe(50, 2, load_metrics(kCollapsed), sig(2.0)).empty());  // 1st interval
  EXPECT_EQ(d.status(2), "warning");
  EXPECT_TRUE(d.observe(60, 2, load_metrics(kCollapsed), sig(2.0)).empty());  // 2nd
  auto fired = d.observe(70, 2, load_metrics(kCollapsed), sig(2.0));          // 3rd: W reached
  auto r = rules(fired);
  EXPECT_NE(std::find(r.begin(), r.end(), "dominant_expert"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "low_neff"), r.end());         // N_eff 1.65 < E / 2
  EXPECT_NE(std::find(r.begin(), r.end(), "starved_experts"), r.end());  // 5 under 2.5%
  EXPECT_NE(std::find(r.begin(), r.end(), "high_maxvio"), r.end());
  for (auto& a : fired) {
    EXPECT_EQ(a.began_step, 50);
    EXPECT_EQ(a.layer, 2);
    if (a.rule == "dominant_expert") {
      EXPECT_EQ(a.experts, (std::vector<int64_t>{0}));
      EXPECT_EQ(a.severity, "critical");
      EXPECT_FALSE(a.fix.empty());
    }
  }
  EXPECT_TRUE(d.collapsed(2));
  EXPECT_EQ(d.collapse_began(2), 50);
  EXPECT_TRUE(d.observe(80, 2, load_metrics(kCollapsed), sig(2.0)).empty());  // once per streak
  EXPECT_EQ(d.status(1), "ok");                                               // other layers untouched
}

TEST(Detector, RespectsTheWindowAndLeavesCollapseOnlyAfterTheExitWindow) {
  ScopeConfig c = cfg(4);
  c.exit_window = 3;
  CollapseDetector d(c);
  // Collapsed for 3 intervals, healthy for one, collapsed for 3: never 4 in a row.
  for (int rep = 0; rep < 2; ++rep) {
    for (int i = 0; i < 3; ++i) d.observe(i, 0, load_metrics(kCollapsed), sig(0.5));
    EXPECT_EQ(d.status(0), "warning");  // a critical rule holds, not yet for W
    d.observe(100, 0, load_metrics(kHealthy), sig(0.1));
  }
  EXPECT_FALSE(d.collapsed(0));
  for (int i = 0; i < 4; ++i) d.observe(200 + i, 0, load_metrics(kCollapsed), sig(0.5));
  EXPECT_TRUE(d.collapsed(0));
  EXPECT_EQ(d.collapse_began(0), 200);
  // Hysteresis: a layer hovering around the thresholds stays collapsed; healthy intervals
  // between critical ones do not count towards the exit.
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(has(rules(d.observe(300 + 2 * i, 0, load_metrics(kHealthy), sig(0.1))), "recovered"));
    d.observe(301 + 2 * i, 0, load_metrics(kCollapsed), sig(0.5));
    EXPECT_TRUE(d.collapsed(0)) << i;
    EXPECT_EQ(d.collapse_began(0), 200);
  }
  EXPECT_TRUE(rules(d.observe(400, 0, load_metrics(kHealthy), sig(0.1))).empty());
  EXPECT_TRUE(d.collapsed(0));
  EXPECT_TRUE(rules(d.observe(410, 0, load_metrics(kHealthy), sig(0.1))).empty());
  EXPECT_TRUE(d.collapsed(0));
  auto rec = d.observe(420, 0, load_metrics(kHealthy), sig(0.1));  // the 3rd calm interval
  ASSERT_EQ(rules(rec), (std::vector<std::string>{"recovered"}));
  EXPECT_EQ(rec[0].severity, "info");
  EXPECT_EQ(d.status(0), "ok");
  EXPECT_EQ(d.collapse_began(0), -1);
}

TEST(Detector, DominantExpertComparesTheShareOfTokensNotOfSlots) {
  // Top-2, 100 tokens: expert 0 is chosen by 60 of them (30% of the slots); entropy stays 0.95.
  const std::vector<int64_t> c = {60, 20, 20, 20, 20, 20, 20, 20};
  auto m = load_metrics(c, 2);
  EXPECT_NEAR(m.max_share, 0.3, 1e-12);
  EXPECT_NEAR(m.max_token_share, 0.6, 1e-12);
  CollapseDetector d(cfg(3));
  std::vector<Alert> fired;
  for (int i = 0; i < 3; ++i) fired = d.observe(i, 1, m, sig(0.2));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"dominant_expert"}));
  EXPECT_EQ(fired[0].severity, "critical");
  EXPECT_EQ(fired[0].experts, (std::vector<int64_t>{0}));
  EXPECT_TRUE(d.collapsed(1));
  // Read as top-1 (slots = tokens) the same counts are a 30% share: no rule holds.
  CollapseDetector top1(cfg(3));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(top1.observe(i, 1, load_metrics(c, 1), sig(0.2)).empty());
  EXPECT_EQ(top1.status(1), "ok");
}

TEST(Detector, StarvedExpertsNeedNotBeDeadNorTheSame) {
  CollapseDetector d(cfg(3));
  // One expert under a fifth of the fair share 1/4 (0.2%, not 0), a different one each
  // interval: warning.
  EXPECT_TRUE(d.observe(0, 0, load_metrics({2, 300, 300, 398}), sig(0.2)).empty());
  EXPECT_TRUE(d.observe(1, 0, load_metrics({300, 2, 300, 398}), sig(0.2)).empty());
  auto fired = d.observe(2, 0, load_metrics({300, 300, 3, 397}), sig(0.2));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"starved_experts"}));
  EXPECT_EQ(fired[0].severity, "warning");
  EXPECT_EQ(fired[0].experts, (std::vector<int64_t>{2}));
  EXPECT_EQ(fired[0].began_step, 0);
  EXPECT_EQ(d.status(0), "warning");
  EXPECT_FALSE(d.collapsed(0));
  EXPECT_GE(d.streak(0, "starved_experts"), 3);
  // Two starved experts (>= scope.starved_experts) for W intervals: critical, collapsed.
  std::vector<Alert> crit;
  for (int i = 3; i < 6; ++i) crit = d.observe(i, 0, load_metrics({5, 4, 495, 496}), sig(0.2));
  auto r = rules(crit);
  ASSERT_TRUE(has(r, "starved_experts")) << ::testing::PrintToString(r);
  for (auto& a : crit)
    if (a.rule == "starved_experts") {
      EXPECT_EQ(a.severity, "critical");
      EXPECT_EQ(a.experts, (std::vector<int64_t>{0, 1}));
      EXPECT_EQ(a.began_step, 3);
    }
  EXPECT_TRUE(d.collapsed(0));
  EXPECT_EQ(d.collapse_began(0), 3);
}

TEST(Detector, DropRateWarnsAboveFivePercentAndIsDroppingAboveTwenty) {
  CollapseDetector d(cfg(3));
  // Balanced load, 4% drops: nothing; 10%: warning after W; 30%: critical after W.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(d.observe(i, 0, load_metrics(kHealthy), sig(0.1, 0.04)).empty());
  std::vector<std::string> all;
  for (int i = 5; i < 8; ++i)
    for (auto& a : d.observe(i, 0, load_metrics(kHealthy), sig(0.1, 0.10))) all.push_back(a.rule + ":" + a.severity);
  EXPECT_EQ(all, (std::vector<std::string>{"high_drop_rate:warning"}));
  EXPECT_EQ(d.status(0), "warning");
  all.clear();
  for (int i = 8; i < 11; ++i)
    for (auto& a : d.observe(i, 0, load_metrics(kHealthy), sig(0.1, 0.30))) all.push_back(a.rule + ":" + a.severity);
  EXPECT_EQ(all, (std::vector<std::string>{"high_drop_rate:critical"}));
  // Capacity drops are their own status, never a collapse (entropy 0.999 here).
  EXPECT_EQ(d.status(0), "dropping");
  EXPECT_TRUE(d.dropping(0));
  EXPECT_FALSE(d.collapsed(0));
  EXPECT_EQ(d.collapse_began(0), -1);
  // Leaves after exit_window intervals without critical drops, with a recovered alert.
  std::vector<Alert> rec;
  for (int i = 11; i < 14; ++i) {
    EXPECT_EQ(d.status(0), "dropping") << i;
    rec = d.observe(i, 0, load_metrics(kHealthy), sig(0.1, 0.0));
  }
  ASSERT_EQ(rules(rec), (std::vector<std::string>{"recovered"}));
  EXPECT_EQ(rec[0].evidence["status"], "dropping");
  EXPECT_EQ(d.status(0), "ok");
}

TEST(Detector, ACollapsedLayerThatAlsoDropsIsBothAndShowsCollapsed) {
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 3; ++i) d.observe(i, 0, load_metrics(kCollapsed), sig(2.0, 0.4));
  EXPECT_TRUE(d.collapsed(0));
  EXPECT_TRUE(d.dropping(0));
  EXPECT_EQ(d.status(0), "collapsed");  // the more severe
  // Routing repaired, drops remain: dropping once the collapse has left.
  for (int i = 3; i < 6; ++i) d.observe(i, 0, load_metrics(kHealthy), sig(0.1, 0.4));
  EXPECT_FALSE(d.collapsed(0));
  EXPECT_EQ(d.status(0), "dropping");
}

TEST(Detector, CollapseFromAlternatingCriticalRulesFiresOneCollapseAlert) {
  CollapseDetector d(cfg(3));
  // Top-1 of 4. Interval 1: two starved experts only; 2: one expert chosen by 60% of the tokens
  // only (nothing starved, N_eff 3.0); 3: starved only. No single rule has W intervals in a row
  // at critical, yet some critical collapse rule held in each.
  const std::vector<int64_t> starved = {5, 4, 495, 496}, dominated = {600, 134, 133, 133};
  d.observe(0, 0, load_metrics(starved), sig(0.1));
  d.observe(1, 0, load_metrics(dominated), sig(0.1));
  auto fired = d.observe(2, 0, load_metrics(starved), sig(0.1));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"collapse"}));
  EXPECT_EQ(fired[0].severity, "critical");
  EXPECT_EQ(fired[0].began_step, 0);
  EXPECT_EQ(fired[0].evidence["rules"], nlohmann::json::array({"starved_experts"}));
  EXPECT_TRUE(d.collapsed(0));
  // Drops alternating with starvation are no collapse: drops are not a collapse rule.
  CollapseDetector d2(cfg(3));
  for (int i = 0; i < 6; ++i) {
    auto r = rules(d2.observe(i, 0, load_metrics(i % 2 ? starved : kHealthy), sig(0.1, i % 2 ? 0.0 : 0.3)));
    EXPECT_FALSE(has(r, "collapse")) << i;
  }
  EXPECT_FALSE(d2.collapsed(0));
  EXPECT_FALSE(d2.dropping(0));
  EXPECT_EQ(d2.status(0), "warning");
}

TEST(Detector, AOneIntervalBlipLeavesTheStatusOk) {
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 5; ++i) d.observe(i, 0, load_metrics(kHealthy), sig(0.1));
  d.observe(5, 0, load_metrics(kHealthy), sig(1.5));  // one unbalanced step-level interval
  EXPECT_EQ(d.status(0), "ok");
  d.observe(6, 0, load_metrics(kHealthy), sig(1.5));
  EXPECT_TRUE(rules(d.observe(7, 0, load_metrics(kHealthy), sig(1.5))) == std::vector<std::string>{"high_maxvio"});
  EXPECT_EQ(d.status(0), "warning");  // a warning rule held for W intervals
}

TEST(Detector, FallingEntropyTrendWarnsEarly) {
  ScopeConfig c = cfg(3);
  c.trend_window = 5;
  CollapseDetector d(c);
  std::vector<std::vector<int64_t>> stream = {
      {25, 25, 25, 25}, {30, 24, 23, 23}, {36, 22, 21, 21}, {42, 20, 19, 19}, {48, 18, 17, 17}};
  std::vector<Alert> all;
  for (size_t i = 0; i < stream.size(); ++i)
    for (auto& a : d.observe(int64_t(i), 0, load_metrics(stream[i]), sig(0.3))) all.push_back(a);
  ASSERT_EQ(rules(all), (std::vector<std::string>{"entropy_trend"}));
  EXPECT_LT(all[0].evidence["slope_per_interval"].get<double>(), -0.01);
  EXPECT_FALSE(d.collapsed(0));
}

TEST(Detector, DominantExpertBarRisesWithTopKSoABalancedTopFourOfEightIsOk) {
  // Top-4 of 8, 100 tokens, perfectly balanced: every expert is chosen by 50% of the tokens,
  // which a fixed 0.5 bar would call dominant. The K-aware bar is 0.5 + 0.5 * 3/7 = 0.714.
  const std::vector<int64_t> balanced(8, 50);
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(d.observe(i, 0, load_metrics(balanced, 4), sig(0.1)).empty());
  EXPECT_EQ(d.status(0), "ok");
  // Expert 0 chosen by 80% of the tokens (above 0.714); the other slots spread evenly.
  const std::vector<int64_t> hot = {80, 46, 46, 46, 46, 46, 45, 45};
  ASSERT_NEAR(load_metrics(hot, 4).max_token_share, 0.8, 1e-12);
  std::vector<Alert> fired;
  for (int i = 6; i < 9; ++i) fired = d.observe(i, 0, load_metrics(hot, 4), sig(0.5));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"dominant_expert"}));
  EXPECT_EQ(fired[0].experts, (std::vector<int64_t>{0}));
  // 70% of the tokens on one expert stays below the top-4-of-8 bar.
  CollapseDetector d2(cfg(3));
  const std::vector<int64_t> warm = {70, 48, 47, 47, 47, 47, 47, 47};
  for (int i = 0; i < 6; ++i) {
    auto r = rules(d2.observe(i, 0, load_metrics(warm, 4), sig(0.5)));
    EXPECT_TRUE(r.empty()) << ::testing::PrintToString(r);
  }
}

TEST(Detector, StarvedCriticalNeedsAQuarterOfTheExperts) {
  // 16 experts: 3 starved (under a fifth of the fair share 1/16) stay a warning; 4 (a quarter)
  // are critical.
  std::vector<int64_t> three(16, 100), four(16, 100);
  for (int e : {0, 1, 2}) three[e] = 5;
  for (int e : {0, 1, 2, 3}) four[e] = 5;
  CollapseDetector d(cfg(3));
  std::vector<Alert> fired;
  for (int i = 0; i < 3; ++i) fired = d.observe(i, 0, load_metrics(three, 2), sig(0.3));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"starved_experts"}));
  EXPECT_EQ(fired[0].severity, "warning");
  EXPECT_FALSE(d.collapsed(0));
  for (int i = 3; i < 6; ++i) fired = d.observe(i, 0, load_metrics(four, 2), sig(0.3));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"starved_experts"}));
  EXPECT_EQ(fired[0].severity, "critical");
  EXPECT_EQ(fired[0].experts, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(d.collapsed(0));
  // scope.starved_experts stays a floor: with a fraction of 0 it alone decides.
  ScopeConfig c = cfg(3);
  c.starved_fraction = 0.0;
  CollapseDetector floor_only(c);
  std::vector<int64_t> two(16, 100);
  two[0] = two[1] = 5;
  for (int i = 0; i < 3; ++i) fired = floor_only.observe(i, 0, load_metrics(two, 2), sig(0.3));
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"starved_experts"}));
  EXPECT_EQ(fired[0].severity, "critical");
}

namespace {
// Counts of a layer of E experts, `slots` in all, every expert near the fair share: a fixed
// pseudo-random spread of +-`spread` (relative) around it.
std::vector<int64_t> near_uniform(int64_t E, int64_t per_expert, double spread, uint32_t seed) {
  std::vector<int64_t> c(static_cast<size_t>(E));
  for (auto& v : c) {
    seed = seed * 1664525u + 1013904223u;
    const double u = double(seed >> 8) / double(1u << 24) * 2.0 - 1.0;  // [-1, 1)
    v = static_cast<int64_t>(std::llround(double(per_expert) * (1.0 + spread * u)));
  }
  return c;
}
}  // namespace

TEST(Detector, BalancedLayersAtOneHundredTwentyEightAndTwoHundredFiftySixExpertsTopEightAreOk) {
  // Issue 28: under an absolute 1% starvation share every expert of a balanced 128- or
  // 256-expert layer (fair share 0.78%, 0.39%) was starved and the layer "collapsed".
  for (int64_t E : {128, 256}) {
    CollapseDetector d(cfg(3));
    for (int i = 0; i < 20; ++i) {
      auto fired = d.observe(10 * i, 1, load_metrics(std::vector<int64_t>(static_cast<size_t>(E), 80), 8), sig(0.1));
      EXPECT_TRUE(fired.empty()) << E << " " << ::testing::PrintToString(rules(fired));
    }
    EXPECT_EQ(d.status(1), "ok") << E;
    // A realistic healthy layer: every expert within +-50% of its fair share (N_eff ~0.92 E).
    CollapseDetector noisy(cfg(3));
    for (int i = 0; i < 20; ++i) {
      auto c = near_uniform(E, 80, 0.5, 17u + uint32_t(i));
      auto m = load_metrics(c, 8);
      ASSERT_GT(m.n_eff, 0.9 * double(E));
      EXPECT_TRUE(noisy.observe(10 * i, 1, m, sig(0.4)).empty()) << E << " " << i;
    }
    EXPECT_EQ(noisy.status(1), "ok") << E;
  }
}

TEST(Detector, SixteenExpertsAQuarterStarvedMostOfTheRunIsCollapsedWithinFortySteps) {
  // The case: 16 experts, top-2, log every 10 steps; from step 20 on, 4-7 experts get
  // 0.3% of the slots each (under a fifth of the fair share 6.25%) in every interval but one,
  // the rest share the load evenly (entropy 0.74-0.86, not concentrated: N_eff >= 9).
  CollapseDetector d(cfg(3));
  const int64_t onset = 20;
  int64_t collapsed_at = -1;
  for (int i = 0; i < 30; ++i) {
    const int64_t step = 10 * i;
    int n = step < onset ? 0 : 4 + (i % 4);  // 4, 5, 6, 7 starved
    if (i == 15) n = 3;                      // the one interval with fewer than a quarter
    std::vector<int64_t> c(16, 0);
    for (int e = 0; e < 16; ++e) c[size_t(e)] = e < n ? 6 : (2000 - 6 * n) / (16 - n);
    auto m = load_metrics(c, 2);
    if (n >= 4) {
      ASSERT_GE(m.n_eff, 8.0);  // only the starvation clause can call it
    }
    d.observe(step, 3, m, sig(0.8));
    if (collapsed_at < 0 && d.collapsed(3)) collapsed_at = step;
    if (collapsed_at >= 0) {
      EXPECT_TRUE(d.collapsed(3)) << step;  // hysteresis through the dip
    }
  }
  ASSERT_GE(collapsed_at, 0);
  EXPECT_LE(collapsed_at - onset, 40);
  EXPECT_EQ(d.collapse_began(3), onset);
}

TEST(Detector, OneHotExpertInAWideLayerIsImbalancedNotCollapsed) {
  // Top-8 of 128, expert 5 chosen by 30% of the tokens (4.8 x its fair 6.25%; the imbalanced bar
  // is 4 x = 25%, the dominated bar 0.528), the other experts balanced: N_eff ~ 0.97 E.
  std::vector<int64_t> c(128, 0);
  const int64_t tokens = 10000;
  c[5] = 3000;
  for (int e = 0; e < 128; ++e)
    if (e != 5) c[size_t(e)] = (8 * tokens - 3000) / 127;
  auto m = load_metrics(c, 8);
  ASSERT_NEAR(m.max_token_share, 8.0 * 3000.0 / double(m.total), 1e-12);
  ASSERT_GT(m.max_token_share, 0.25);
  CollapseDetector d(cfg(3));
  std::vector<std::string> all;
  for (int i = 0; i < 5; ++i)
    for (auto& a : d.observe(i, 0, m, sig(0.5))) all.push_back(a.rule + ":" + a.severity);
  EXPECT_EQ(all, (std::vector<std::string>{"dominant_expert:warning"}));
  EXPECT_EQ(d.status(0), "imbalanced");
  EXPECT_FALSE(d.collapsed(0));
  // Above the dominated bar: a collapse.
  c[5] = 6000;
  for (int e = 0; e < 128; ++e)
    if (e != 5) c[size_t(e)] = (8 * tokens - 6000) / 127;
  for (int i = 5; i < 8; ++i) d.observe(i, 0, load_metrics(c, 8), sig(0.5));
  EXPECT_EQ(d.status(0), "collapsed");
}

TEST(Detector, AnIntervalWithTooFewSlotsPerExpertIsNotJudged) {
  // 128 experts, 1 slot per expert on average from a uniformly random router: about a third get
  // none (e^-1). The load rules do not hold (sampling noise, not starvation); judged from 1 slot
  // per expert on, the same counts are a starved layer.
  std::vector<int64_t> c(128, 0);
  uint32_t seed = 5u;
  for (int t = 0; t < 128; ++t) {
    seed = seed * 1664525u + 1013904223u;
    ++c[(seed >> 8) % 128];
  }
  int zeros = 0;
  for (auto v : c) zeros += v == 0;
  ASSERT_GE(zeros, 32);  // a quarter: starved-layer critical if judged
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(d.observe(i, 0, load_metrics(c, 8), sig(0.5)).empty()) << i;
  EXPECT_EQ(d.status(0), "ok");
  ScopeConfig low = cfg(3);
  low.min_expert_slots = 1.0;
  CollapseDetector judged(low);
  for (int i = 0; i < 3; ++i) judged.observe(i, 0, load_metrics(c, 8), sig(0.5));
  EXPECT_TRUE(judged.collapsed(0));
}

TEST(Detector, StatusLevelsFollowTheSeverityOrder) {
  EXPECT_EQ(status_level("ok"), 0);
  EXPECT_EQ(status_level("warning"), 1);
  EXPECT_EQ(status_level("imbalanced"), 2);
  EXPECT_EQ(status_level("dropping"), 3);
  EXPECT_EQ(status_level("collapsed"), 4);
  EXPECT_THROW(status_level("broken"), std::invalid_argument);
}
