// detector_test.cpp: collapse-detector rules on synthetic metric streams.
#include <gtest/gtest.h>

#include "scope/detector.h"

using namespace moescope;

namespace {
ScopeConfig cfg(int64_t window = 3) {
  ScopeConfig c;
  c.window = window;
  return c;
}
const std::vector<int64_t> kHealthy = {26, 24, 25, 25, 27, 23, 25, 25};
const std::vector<int64_t> kCollapsed = {180, 5, 5, 4, 3, 1, 1, 1};  // one expert holds 90%
std::vector<std::string> rules(const std::vector<Alert>& a) {
  std::vector<std::string> r;
  for (auto& x : a) r.push_back(x.rule);
  return r;
}
}  // namespace

TEST(Detector, HealthyStreamNeverFires) {
  CollapseDetector d(cfg());
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(d.observe(10 * i, 1, load_metrics(kHealthy), 0.1).empty());
  EXPECT_EQ(d.status(1), "ok");
}

TEST(Detector, CollapseFiresAfterWindowWithItsStartStep) {
  CollapseDetector d(cfg(3));
  for (int i = 0; i < 5; ++i) d.observe(10 * i, 2, load_metrics(kHealthy), 0.1);
  EXPECT_TRUE(d.observe(50, 2, load_metrics(kCollapsed), 2.0).empty());  // 1st interval
  EXPECT_EQ(d.status(2), "warning");
  EXPECT_TRUE(d.observe(60, 2, load_metrics(kCollapsed), 2.0).empty());  // 2nd
  auto fired = d.observe(70, 2, load_metrics(kCollapsed), 2.0);          // 3rd: W reached
  auto r = rules(fired);
  EXPECT_NE(std::find(r.begin(), r.end(), "dominant_expert"), r.end());
  EXPECT_NE(std::find(r.begin(), r.end(), "low_entropy"), r.end());
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
  EXPECT_TRUE(d.observe(80, 2, load_metrics(kCollapsed), 2.0).empty());  // once per streak
  EXPECT_EQ(d.status(1), "ok");                                           // other layers untouched
}

TEST(Detector, RespectsTheWindowAndResetsOnRecovery) {
  CollapseDetector d(cfg(4));
  // Collapsed for 3 intervals, healthy for one, collapsed for 3: never 4 in a row.
  for (int rep = 0; rep < 2; ++rep) {
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rules(d.observe(i, 0, load_metrics(kCollapsed), 0.5)).empty() ||
                                            d.status(0) != "collapsed");
    d.observe(100, 0, load_metrics(kHealthy), 0.1);
  }
  EXPECT_FALSE(d.collapsed(0));
  for (int i = 0; i < 4; ++i) d.observe(200 + i, 0, load_metrics(kCollapsed), 0.5);
  EXPECT_TRUE(d.collapsed(0));
  auto rec = rules(d.observe(300, 0, load_metrics(kHealthy), 0.1));
  EXPECT_NE(std::find(rec.begin(), rec.end(), "recovered"), rec.end());
  EXPECT_EQ(d.status(0), "ok");
}

TEST(Detector, DeadExpertsMustStayTheSame) {
  CollapseDetector d(cfg(3));
  d.observe(0, 0, load_metrics({30, 30, 40, 0}), 0.2);
  d.observe(1, 0, load_metrics({30, 30, 0, 40}), 0.2);  // a different expert dead: streak restarts
  EXPECT_TRUE(d.observe(2, 0, load_metrics({30, 30, 0, 40}), 0.2).empty());
  auto fired = d.observe(3, 0, load_metrics({30, 30, 0, 40}), 0.2);
  ASSERT_EQ(rules(fired), (std::vector<std::string>{"dead_experts"}));
  EXPECT_EQ(fired[0].experts, (std::vector<int64_t>{2}));
  EXPECT_EQ(fired[0].severity, "warning");
  EXPECT_FALSE(d.collapsed(0));
}

TEST(Detector, FallingEntropyTrendWarnsEarly) {
  ScopeConfig c = cfg(3);
  c.trend_window = 5;
  CollapseDetector d(c);
  std::vector<std::vector<int64_t>> stream = {{25, 25, 25, 25}, {30, 24, 23, 23}, {36, 22, 21, 21}, {42, 20, 19, 19}, {48, 18, 17, 17}};
  std::vector<Alert> all;
  for (size_t i = 0; i < stream.size(); ++i)
    for (auto& a : d.observe(int64_t(i), 0, load_metrics(stream[i]), 0.3)) all.push_back(a);
  ASSERT_EQ(rules(all), (std::vector<std::string>{"entropy_trend"}));
  EXPECT_LT(all[0].evidence["slope_per_interval"].get<double>(), -0.01);
  EXPECT_FALSE(d.collapsed(0));
}
