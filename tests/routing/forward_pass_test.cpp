// forward_pass_test.cpp: the one-pass forward totals (routing/forward_pass.h) against a naive
// double-precision recomputation (softmax through log-sum-exp, entropy as log Z - E_p[logit]),
// for softmax, sigmoid and given probabilities; co-activation pairs; the id check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "routing/forward_pass.h"

using namespace moescope;

namespace {
constexpr int64_t T = 37, E = 7, K = 3;

struct Case {
  std::vector<int64_t> ids;
  std::vector<float> logits;
};

Case random_case(unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 2.f);
  Case c;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> perm(E);
    for (int64_t e = 0; e < E; ++e) perm[e] = e;
    std::shuffle(perm.begin(), perm.end(), g);
    for (int64_t k = 0; k < K; ++k) c.ids.push_back(perm[k]);
    for (int64_t e = 0; e < E; ++e) c.logits.push_back(n(g));
  }
  return c;
}

TEST(ForwardPass, SoftmaxLogitsMatchNaive) {
  Case c = random_case(1);
  std::vector<int64_t> counts(E, 0), coact(E * E, 0);
  auto s =
      accumulate_forward(c.ids.data(), T, K, E, nullptr, c.logits.data(), false, counts.data(), coact.data(), "l0");
  std::vector<int64_t> rc(E, 0), rco(E * E, 0);
  double ent = 0, top1 = 0, sq = 0, mx = -1e30;
  for (int64_t t = 0; t < T; ++t) {
    std::set<int64_t> chosen;
    for (int64_t k = 0; k < K; ++k) ++rc[c.ids[t * K + k]], chosen.insert(c.ids[t * K + k]);
    for (auto a : chosen)
      for (auto b : chosen) ++rco[a * E + b];
    double m = -1e30;
    for (int64_t e = 0; e < E; ++e) m = std::max(m, (double)c.logits[t * E + e]);
    double z = 0;
    for (int64_t e = 0; e < E; ++e) z += std::exp((double)c.logits[t * E + e] - m);
    const double logz = m + std::log(z);
    double ep = 0, pmax = 0;
    for (int64_t e = 0; e < E; ++e) {
      const double l = c.logits[t * E + e], p = std::exp(l - logz);
      ep += p * l;
      pmax = std::max(pmax, p);
      sq += l * l;
      mx = std::max(mx, l);
    }
    ent += (logz - ep) / std::log((double)E);
    top1 += pmax;
  }
  EXPECT_EQ(counts, rc);
  EXPECT_EQ(coact, rco);
  EXPECT_NEAR(s.ent_sum, ent, 1e-6 * ent);  // exp in float32, the router's precision
  EXPECT_NEAR(s.top1_sum, top1, 1e-6 * top1);
  EXPECT_NEAR(s.logit_sq, sq, 1e-9 * sq);
  EXPECT_DOUBLE_EQ(s.logit_max, mx);
  EXPECT_EQ(s.prob_tokens, T);
  EXPECT_EQ(s.logit_n, T * E);
}

TEST(ForwardPass, SigmoidAndGivenProbsMatchNaive) {
  Case c = random_case(2);
  std::vector<float> probs;
  for (float l : c.logits) probs.push_back(static_cast<float>(1.0 / (1.0 + std::exp(-(double)l))));
  double ent = 0, top1 = 0;
  for (int64_t t = 0; t < T; ++t) {
    double sum = 0, pmax = 0;
    for (int64_t e = 0; e < E; ++e) sum += probs[t * E + e], pmax = std::max(pmax, (double)probs[t * E + e]);
    for (int64_t e = 0; e < E; ++e) {
      const double q = probs[t * E + e] / sum;
      ent -= q * std::log(q) / std::log((double)E);
    }
    top1 += pmax;
  }
  std::vector<int64_t> counts(E, 0);
  auto a = accumulate_forward(c.ids.data(), T, K, E, nullptr, c.logits.data(), true, counts.data(), nullptr, "l1");
  EXPECT_NEAR(a.ent_sum, ent, 1e-6 * ent);  // the reference reads float32 sigmoid scores
  EXPECT_NEAR(a.top1_sum, top1, 1e-6 * top1);
  auto b = accumulate_forward(c.ids.data(), T, K, E, probs.data(), nullptr, true, counts.data(), nullptr, "l1");
  EXPECT_NEAR(b.ent_sum, ent, 1e-6 * ent);  // p log p in float32 (fast_logf), as torch's float32 entr
  EXPECT_NEAR(b.top1_sum, top1, 1e-9 * top1);
  EXPECT_EQ(b.logit_n, 0);
  EXPECT_EQ(b.logit_max, -1e30);
  int64_t total = 0;
  for (auto v : counts) total += v;
  EXPECT_EQ(total, 2 * T * K);  // counts add up over calls
}

TEST(ForwardPass, IdsOnlyAndRepeatedIds) {
  const std::vector<int64_t> ids{0, 0, 2, 1, 2, 0};  // T = 3, K = 2: token 0 chose expert 0 twice
  std::vector<int64_t> counts(3, 0), coact(9, 0);
  auto s = accumulate_forward(ids.data(), 3, 2, 3, nullptr, nullptr, false, counts.data(), coact.data(), "l2");
  EXPECT_EQ(counts, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(coact, (std::vector<int64_t>{2, 0, 1, 0, 1, 1, 1, 1, 2}));
  EXPECT_EQ(s.prob_tokens, 0);
  EXPECT_EQ(s.ent_sum, 0);
}

TEST(ForwardPass, BadIdThrowsNamingLayerAndAddsNothing) {
  const std::vector<int64_t> ids{0, 5};
  std::vector<int64_t> counts(4, 0);
  try {
    accumulate_forward(ids.data(), 2, 1, 4, nullptr, nullptr, false, counts.data(), nullptr, "layer 3 (mlp.gate)");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 3 (mlp.gate): expert id 5 is not in [0, 4)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(counts, (std::vector<int64_t>(4, 0)));
}
}  // namespace
