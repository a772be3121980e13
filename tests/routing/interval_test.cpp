// interval_test.cpp: the log interval's accumulator (routing/interval.h) against naive
// recomputations from the expert ids: counts, per-step MaxVio, drop rate, router sums,
// co-activation pairs; the record's fields; the cross-rank packing (two ranks' packs summed
// equal one process that saw both); and the input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "routing/interval.h"

using namespace moescope;

namespace {
constexpr int64_t E = 6, K = 2;

// One forward of T tokens with random distinct top-K ids (seeded).
ForwardRouting random_forward(std::mt19937& g, int64_t T) {
  ForwardRouting f;
  f.top_k = K;
  f.counts.assign(E, 0);
  f.kept.assign(E, 0);
  for (int64_t t = 0; t < T; ++t) {
    std::set<int64_t> row;
    while (static_cast<int64_t>(row.size()) < K) row.insert(static_cast<int64_t>(g() % 3 == 0 ? 0 : g() % E));
    for (int64_t e : row) {
      f.expert_TK.push_back(e);
      ++f.counts[e];
      ++f.kept[e];
    }
  }
  f.totals.tokens = T;
  f.totals.prob_tokens = T;
  f.totals.assign = T * K;
  f.totals.forwards = 1;
  f.totals.dropped = T / 5;
  f.totals.ent_sum = 0.7 * double(T);
  f.totals.top1_sum = 0.4 * double(T);
  f.totals.logit_sq = 2.0 * double(T * E);
  f.totals.logit_n = T * E;
  f.totals.logit_max = double(T % 7);
  f.totals.switch_loss = 1.5;
  return f;
}
double naive_maxvio(const std::vector<int64_t>& c) {
  double tot = 0, mx = 0;
  for (int64_t v : c) tot += double(v), mx = std::max(mx, double(v));
  const double mean = tot / double(c.size());
  return tot > 0 ? (mx - mean) / mean : 0.0;
}
}  // namespace

TEST(RoutingTotals, EveryFieldIsVisitedOnceAndAddedByItsReduction) {
  RoutingTotals a, b;
  int n = 0, maxes = 0;
  a.visit([&](const char*, auto& v, Reduction r) {
    ++n;
    maxes += r == Reduction::kMax;
    v = 3;
  });
  b.visit([&](const char*, auto& v, Reduction) { v = 5; });
  a.add(b);
  EXPECT_EQ(n, 14);
  EXPECT_EQ(maxes, 1);
  EXPECT_EQ(a.tokens, 8);
  EXPECT_DOUBLE_EQ(a.ent_sum, 8);
  EXPECT_DOUBLE_EQ(a.logit_max, 5);  // a max, not a sum
  EXPECT_DOUBLE_EQ(RoutingTotals{}.logit_max, -1e30);
}

TEST(LayerInterval, AccumulatesAsANaiveRecomputationFromTheIds) {
  std::mt19937 g(7);
  LayerInterval acc(E);
  std::vector<int64_t> counts(E, 0), coact(E * E, 0);
  std::vector<std::vector<int64_t>> steps;
  int64_t tokens = 0, dropped = 0;
  for (int step = 0; step < 3; ++step) {
    std::vector<int64_t> sc(E, 0);
    for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation: two forwards per step
      auto f = random_forward(g, 17 + step + micro);
      check_forward(f, E, "layer 1");
      acc.observe(f, /*coact=*/true);
      tokens += f.totals.tokens;
      dropped += f.totals.dropped;
      for (int64_t t = 0; t < f.totals.tokens; ++t)
        for (int64_t a = 0; a < K; ++a) {
          const int64_t ea = f.expert_TK[t * K + a];
          ++counts[ea];
          ++sc[ea];
          for (int64_t b = 0; b < K; ++b) ++coact[ea * E + f.expert_TK[t * K + b]];
        }
    }
    const std::vector<double> bias(E, 0.1 * step);
    acc.end_step(bias.data());
    steps.push_back(sc);
  }
  EXPECT_EQ(acc.counts, counts);
  EXPECT_EQ(acc.coact, coact);
  ASSERT_EQ(acc.step_hist, steps);
  double mv = 0;
  for (auto& s : steps) mv += naive_maxvio(s) / 3.0;
  EXPECT_NEAR(acc.maxvio_batch(), mv, 1e-12);
  EXPECT_EQ(acc.totals.tokens, tokens);
  EXPECT_EQ(acc.totals.forwards, 6);
  EXPECT_NEAR(acc.drop_rate(), double(dropped) / double(tokens * K), 1e-15);
  EXPECT_NEAR(acc.router_entropy(), 0.7, 1e-12);

  ScopeConfig cfg;
  const auto m = acc.load(K);
  const auto j = acc.record(3, m, {}, cfg, "ok", /*gradients=*/false);
  EXPECT_EQ(j["layer"], 3);
  EXPECT_EQ(j["counts"].get<std::vector<int64_t>>(), counts);
  EXPECT_DOUBLE_EQ(j["entropy_norm"].get<double>(), m.entropy_norm);
  EXPECT_NEAR(j["bias"][0].get<double>(), 0.1, 1e-15);  // mean of 0, 0.1, 0.2
  EXPECT_DOUBLE_EQ(j["bias_hi"][0].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(j["balance_loss"].get<double>(), 1.5);  // per forward
  EXPECT_NEAR(j["logit_rms"].get<double>(), std::sqrt(2.0), 1e-12);
  EXPECT_FALSE(j.contains("router_grad_norm"));
  EXPECT_EQ(j["coactivation"].size(), size_t(E));
}

TEST(LayerInterval, NoBiasNoBiasFields) {
  LayerInterval acc(E);
  std::mt19937 g(1);
  acc.observe(random_forward(g, 5), false);
  acc.end_step(nullptr);
  const auto j = acc.record(0, acc.load(K), {}, ScopeConfig{}, "ok", true);
  EXPECT_FALSE(j.contains("bias"));
  EXPECT_FALSE(j.contains("coactivation"));
  EXPECT_TRUE(j.contains("router_grad_norm"));
}

TEST(IntervalPack, TwoRanksSummedEqualOneProcessThatSawBoth) {
  std::mt19937 g(3);
  std::vector<LayerInterval> r0{LayerInterval(E), LayerInterval(E)}, r1 = r0, both = r0;
  for (int step = 0; step < 2; ++step) {
    for (size_t l = 0; l < 2; ++l) {
      auto f0 = random_forward(g, 9), f1 = random_forward(g, 11);
      r0[l].observe(f0, true);
      r1[l].observe(f1, true);
      both[l].observe(f0, true);
      both[l].observe(f1, true);
      r0[l].end_step(nullptr);
      r1[l].end_step(nullptr);
      both[l].end_step(nullptr);
    }
  }
  auto p0 = pack_intervals(r0, true), p1 = pack_intervals(r1, true);
  ASSERT_EQ(p0.layout(), p1.layout());
  for (size_t i = 0; i < p0.ints.size(); ++i) p0.ints[i] += p1.ints[i];
  for (size_t i = 0; i < p0.sums.size(); ++i) p0.sums[i] += p1.sums[i];
  for (size_t i = 0; i < p0.maxes.size(); ++i) p0.maxes[i] = std::max(p0.maxes[i], p1.maxes[i]);
  unpack_intervals(p0, r0, true);
  for (size_t l = 0; l < 2; ++l) {
    const auto a = r0[l].record(int64_t(l), r0[l].load(K), {}, ScopeConfig{}, "ok", false);
    const auto b = both[l].record(int64_t(l), both[l].load(K), {}, ScopeConfig{}, "ok", false);
    EXPECT_EQ(a.dump(), b.dump()) << "layer " << l;
  }
}

TEST(IntervalPack, ALayerWithoutForwardsOnAnyRankHasNoCounts) {
  std::vector<LayerInterval> r{LayerInterval(E)};
  auto p = pack_intervals(r, true);
  unpack_intervals(p, r, true);
  EXPECT_TRUE(r[0].counts.empty());
  EXPECT_TRUE(r[0].coact.empty());
}

TEST(CheckForward, NamesTheProblem) {
  std::mt19937 g(5);
  auto f = random_forward(g, 4);
  f.expert_TK[3] = E;
  try {
    check_forward(f, E, "layer 7");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 7: expert id 6 is not in [0, 6)"), std::string::npos) << e.what();
  }
  f = random_forward(g, 4);
  f.counts.pop_back();
  EXPECT_THROW(check_forward(f, E, "layer 7"), std::invalid_argument);
  f = random_forward(g, 4);
  f.totals.tokens = 5;
  EXPECT_THROW(check_forward(f, E, "layer 7"), std::invalid_argument);
}
