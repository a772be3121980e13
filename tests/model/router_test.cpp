// router_test.cpp: router invariants and hand-computed balance / z losses.
// On the test device (tests/test_util.h: MOESCOPE_TEST_DEVICE); inputs are drawn on the CPU and
// moved. The hand computations are in fp64 (1e-12 holds on CPU and GPU); fp32 checks use 1e-6.
#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/router.h"

using namespace moescope;
using moescope::testing::cpu;
using moescope::testing::dev;
using moescope::testing::test_device;
using moescope::testing::tiny_config;

namespace {
ModelConfig small_router_cfg(const std::string& score, int64_t E, int64_t K, int64_t D) {
  ModelConfig c;
  c.d_model = D;
  c.moe.n_routed = E;
  c.moe.top_k = K;
  c.moe.score_func = parse_enum_or_throw<ScoreFunc>("score", score);
  c.moe.bias_balance = true;
  return c;
}
double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

TEST(Router, ExactlyKDistinctExpertsAndWeightsSumToOne) {
  for (const char* score : {"softmax", "sigmoid"}) {
    moescope::testing::record_device();
    torch::manual_seed(11);
    auto c = small_router_cfg(score, 8, 3, 16);
    Router r(c);
    r->to(test_device());
    auto x = dev(torch::randn({2, 5, 16}));
    auto out = r->forward(x);
    ASSERT_EQ(out.expert_TK.sizes(), (std::vector<int64_t>{10, 3}));
    auto sorted = std::get<0>(out.expert_TK.sort(1));
    EXPECT_TRUE((sorted.narrow(1, 1, 2) != sorted.narrow(1, 0, 2)).all().item<bool>()) << score;
    EXPECT_TRUE(torch::allclose(cpu(out.weight_TK.sum(1)), torch::ones({10}), 1e-6, 1e-6)) << score;
    EXPECT_EQ(out.counts_E.sum().item<int64_t>(), 30);
    EXPECT_EQ(out.scores_TE.scalar_type(), at::kFloat);  // fp32 router
  }
}

TEST(Router, ScalingFactorAndNoRenorm) {
  torch::manual_seed(12);
  auto c = small_router_cfg("softmax", 8, 2, 16);
  c.moe.norm_topk_prob = false;
  c.moe.routed_scaling_factor = 2.5;
  Router r(c);
  r->to(test_device());
  auto out = r->forward(dev(torch::randn({1, 6, 16})));
  auto expect = out.scores_TE.gather(1, out.expert_TK) * 2.5;
  EXPECT_TRUE(torch::allclose(out.weight_TK, expect));
}

TEST(Router, BiasChangesSelectionButNotWeights) {
  torch::manual_seed(13);
  auto c = small_router_cfg("sigmoid", 4, 2, 8);
  Router r(c);
  r->to(test_device());
  auto x = dev(torch::randn({1, 20, 8}, torch::kDouble));
  auto before = r->forward(x);
  {
    torch::NoGradGuard ng;
    r->bias.copy_(torch::tensor({0.f, 0.f, 0.f, 10.f}));  // forces expert 3 into every top-2
  }
  auto after = r->forward(x);
  EXPECT_TRUE(after.expert_TK.eq(3).any(1).all().item<bool>());
  EXPECT_GT(after.bias_changed, 0);
  EXPECT_EQ(before.bias_changed, 0);
  // Weights are the unbiased scores of the chosen experts, renormalised.
  auto s = after.scores_TE.gather(1, after.expert_TK);
  EXPECT_TRUE(torch::allclose(after.weight_TK, s / s.sum(1, true), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(after.scores_TE, before.scores_TE));
  // The bias is a buffer, not a parameter (no optimizer, no weight decay).
  for (auto& p : r->named_parameters()) EXPECT_EQ(p.key().find("bias"), std::string::npos);
  EXPECT_NE(r->named_buffers().find("e_score_correction_bias"), nullptr);
}

TEST(Router, BiasInterventionIsCountedInEvalModeButNotWhileDecoding) {
  // `scope --model` reads bias_changed from an eval-mode forward under NoGradGuard; decoding
  // (InferenceMode) skips it. Naive reference: the tokens' biased top-2 sets against the unbiased.
  torch::manual_seed(15);
  auto c = small_router_cfg("sigmoid", 4, 2, 8);
  Router r(c);
  r->to(test_device());
  r->eval();
  auto x = dev(torch::randn({1, 20, 8}, torch::kDouble));
  {
    torch::NoGradGuard ng;
    r->bias.copy_(torch::tensor({0.f, 0.f, 0.f, 10.f}));
  }
  Routing out;
  {
    torch::NoGradGuard ng;
    out = r->forward(x);
  }
  auto scores = out.scores_TE.to(torch::kCPU);
  auto chosen = out.expert_TK.to(torch::kCPU);
  int64_t expect = 0;
  for (int64_t t = 0; t < 20; ++t) {
    auto plain = std::get<1>(scores[t].topk(2));
    for (int64_t k = 0; k < 2; ++k) {
      const int64_t e = chosen[t][k].item<int64_t>();
      expect += (plain[0].item<int64_t>() != e && plain[1].item<int64_t>() != e) ? 1 : 0;
    }
  }
  EXPECT_GT(expect, 0);
  EXPECT_EQ(out.bias_changed, expect);
  c10::InferenceMode im;
  EXPECT_EQ(r->forward(x).bias_changed, 0);
}

TEST(Router, BiasInWeightsMovesTheOutputWeightsToo) {
  // moe.bias_in_weights (the seed's variant): weight = (score + bias) of the chosen experts,
  // then renormalised; the scores themselves (and so the router's gradient path) are unchanged.
  torch::manual_seed(14);
  auto c = small_router_cfg("sigmoid", 4, 2, 8);
  c.moe.bias_in_weights = true;
  Router r(c);
  r->to(test_device());
  auto x = dev(torch::randn({1, 20, 8}, torch::kDouble));
  {
    torch::NoGradGuard ng;
    r->bias.copy_(torch::tensor({0.f, 0.f, 0.f, 0.5f}));
  }
  auto out = r->forward(x);
  auto b = cpu(r->bias).to(torch::kDouble).index({cpu(out.expert_TK)});
  auto s = cpu(out.scores_TE.gather(1, out.expert_TK)) + b;
  EXPECT_TRUE(torch::allclose(cpu(out.weight_TK), s / s.sum(1, true), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(cpu(out.weight_TK), cpu(out.scores_TE.gather(1, out.expert_TK)) /
                                                       cpu(out.scores_TE.gather(1, out.expert_TK)).sum(1, true)));
  // Without bias balancing there is no bias to add: the weights are the plain scores.
  c.moe.bias_balance = false;
  Router off(c);
  off->to(test_device());
  {
    torch::NoGradGuard ng;
    off->bias.copy_(torch::tensor({0.f, 0.f, 0.f, 0.5f}));
  }
  auto o = off->forward(x);
  auto so = o.scores_TE.gather(1, o.expert_TK);
  EXPECT_TRUE(torch::allclose(o.weight_TK, so / so.sum(1, true), 1e-12, 1e-12));
}

TEST(Router, BiasOnLogitsSelectsAndWeightsAsTheSeedsModel) {
  // moe.bias_on_logits: the bias is added to the logits before the softmax (the seed's PyTorch
  // model): selection = topk(logits + b); with bias_in_weights the weights are
  // softmax(logits + b) over the chosen experts, renormalised. Naive per-token reference.
  torch::manual_seed(29);
  const int64_t E = 6, K = 2, D = 8, T = 30;
  // the router's bias buffer is float32: the reference reads the same rounded values
  std::vector<double> b;
  for (float v : {0.3f, -0.2f, 0.9f, 0.0f, -0.5f, 0.1f}) b.push_back(v);
  for (bool in_weights : {true, false}) {
    auto c = small_router_cfg("softmax", E, K, D);
    c.moe.bias_on_logits = true;
    c.moe.bias_in_weights = in_weights;
    Router r(c);
    r->to(test_device());
    {
      torch::NoGradGuard ng;
      r->bias.copy_(torch::tensor(std::vector<float>(b.begin(), b.end())));
    }
    auto x = dev(torch::randn({1, T, D}, torch::kDouble) * 4.0);  // logits spread like the bias: the places differ
    auto out = r->forward(x);
    auto W = cpu(r->weight).to(torch::kDouble), xc = cpu(x).reshape({T, D});
    auto chosen = cpu(out.expert_TK), w = cpu(out.weight_TK).detach();
    int64_t differs_from_score_bias = 0;
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> lg(E), p(E);
      double z = 0;
      for (int64_t e = 0; e < E; ++e) {
        lg[e] = (xc[t] * W[e]).sum().item<double>();
        z += std::exp(lg[e]);
      }
      for (int64_t e = 0; e < E; ++e) p[e] = std::exp(lg[e]) / z;
      std::vector<int64_t> ids(E), sid(E);
      for (int64_t e = 0; e < E; ++e) ids[e] = sid[e] = e;
      std::sort(ids.begin(), ids.end(), [&](int64_t i, int64_t j) { return lg[i] + b[i] > lg[j] + b[j]; });
      std::sort(sid.begin(), sid.end(), [&](int64_t i, int64_t j) { return p[i] + b[i] > p[j] + b[j]; });
      if (std::set<int64_t>(ids.begin(), ids.begin() + K) != std::set<int64_t>(sid.begin(), sid.begin() + K))
        ++differs_from_score_bias;
      double norm = 0;
      for (int64_t k = 0; k < K; ++k) norm += in_weights ? std::exp(lg[ids[k]] + b[ids[k]]) : p[ids[k]];
      for (int64_t k = 0; k < K; ++k) {
        EXPECT_EQ(chosen[t][k].item<int64_t>(), ids[k]) << "token " << t;
        const double want = (in_weights ? std::exp(lg[ids[k]] + b[ids[k]]) : p[ids[k]]) / norm;
        EXPECT_NEAR(w[t][k].item<double>(), want, 1e-9) << "token " << t << " in_weights " << in_weights;
      }
    }
    EXPECT_GT(differs_from_score_bias, 0);  // the two places of the bias choose differently here
    auto s = cpu(out.scores_TE).detach();   // the scores stay unbiased (the metrics read them)
    EXPECT_TRUE(torch::allclose(s, torch::softmax(torch::matmul(xc, W.t()), -1), 1e-9, 1e-9));
    out.weight_TK.select(1, 0).sum().backward();  // the weights still train the router
    ASSERT_TRUE(r->weight.grad().defined());
    EXPECT_GT(cpu(r->weight.grad()).abs().sum().item<double>(), 0.0);
  }
}

TEST(Router, BiasUpdateDirectionAndZeroCentring) {
  auto c = small_router_cfg("softmax", 4, 1, 8);
  c.moe.bias_update_rate = 0.05;
  Router r(c);
  r->to(test_device());
  r->update_bias(torch::tensor({10, 0, 5, 5}, torch::kLong));  // mean 5; host counts are moved
  EXPECT_EQ(r->bias.device(), test_device());
  EXPECT_TRUE(torch::allclose(cpu(r->bias), torch::tensor({-0.05f, 0.05f, 0.f, 0.f})));
  c.moe.bias_zero_center = true;
  Router z(c);
  z->to(test_device());
  z->update_bias(dev(torch::tensor({10, 0, 0, 0}, torch::kLong)));  // signs -,+,+,+ ; mean 0.5u
  EXPECT_TRUE(torch::allclose(cpu(z->bias), torch::tensor({-0.075f, 0.025f, 0.025f, 0.025f})));
  EXPECT_NEAR(z->bias.sum().item<double>(), 0.0, 1e-7);
}

TEST(Router, SwitchSeqAndZLossesMatchHandComputation) {
  // E = 2, K = 1, W = I, three tokens with logits (1,0), (0,2), (3,0): choices 0, 1, 0.
  const double alpha = 0.1, seq_alpha = 0.2, beta = 0.01;
  auto c = small_router_cfg("softmax", 2, 1, 2);
  c.moe.bias_balance = false;
  c.moe.aux_loss_alpha = alpha;
  c.moe.seq_aux_loss_alpha = seq_alpha;
  c.moe.z_loss_beta = beta;
  Router r(c);
  r->to(test_device());
  {
    torch::NoGradGuard ng;
    r->weight.copy_(torch::eye(2));
  }
  auto x = dev(torch::tensor({1.0, 0.0, 0.0, 2.0, 3.0, 0.0}, torch::kDouble).view({1, 3, 2}));
  auto out = r->forward(x);
  const double l[3][2] = {{1, 0}, {0, 2}, {3, 0}};
  double p[3][2], lse2 = 0;
  for (int t = 0; t < 3; ++t) {
    double z = std::exp(l[t][0]) + std::exp(l[t][1]);
    p[t][0] = std::exp(l[t][0]) / z;
    p[t][1] = std::exp(l[t][1]) / z;
    lse2 += std::log(z) * std::log(z) / 3.0;
  }
  const double P0 = (p[0][0] + p[1][0] + p[2][0]) / 3, P1 = (p[0][1] + p[1][1] + p[2][1]) / 3;
  const double f0 = 2.0 / 3, f1 = 1.0 / 3;
  EXPECT_NEAR(out.switch_loss, alpha * 2 * (f0 * P0 + f1 * P1), 1e-12);
  EXPECT_NEAR(out.seq_loss, seq_alpha * (2 * f0 * P0 + 2 * f1 * P1), 1e-12);  // one sequence: f' = E f
  EXPECT_NEAR(out.z_loss, beta * lse2, 1e-12);
  EXPECT_NEAR(out.aux_loss.item<double>(), out.switch_loss + out.seq_loss + out.z_loss, 1e-12);

  // Three sequences of one token: the sequence-wise loss averages E * p(chosen) per sequence.
  auto out3 = r->forward(x.view({3, 1, 2}));
  EXPECT_NEAR(out3.seq_loss, seq_alpha * 2 * (p[0][0] + p[1][1] + p[2][0]) / 3, 1e-12);
  EXPECT_NEAR(out3.switch_loss, out.switch_loss, 1e-12);  // batch-level: independent of split
}

TEST(Router, SigmoidBalanceLossUsesNormalisedScores) {
  auto c = small_router_cfg("sigmoid", 2, 1, 2);
  c.moe.bias_balance = false;
  c.moe.aux_loss_alpha = 1.0;
  Router r(c);
  r->to(test_device());
  {
    torch::NoGradGuard ng;
    r->weight.copy_(torch::eye(2));
  }
  auto x = dev(torch::tensor({1.0, -1.0, 0.5, 2.0}, torch::kDouble).view({1, 2, 2}));
  auto out = r->forward(x);
  double pn[2][2];
  const double l[2][2] = {{1, -1}, {0.5, 2}};
  for (int t = 0; t < 2; ++t) {
    double a = sig(l[t][0]), b = sig(l[t][1]);
    pn[t][0] = a / (a + b);
    pn[t][1] = b / (a + b);
  }
  // choices: token 0 -> expert 0, token 1 -> expert 1; f = (1/2, 1/2)
  const double expect = 2 * (0.5 * (pn[0][0] + pn[1][0]) / 2 + 0.5 * (pn[0][1] + pn[1][1]) / 2);
  EXPECT_NEAR(out.switch_loss, expect, 1e-12);
  EXPECT_TRUE(torch::allclose(cpu(out.weight_TK), torch::ones({2, 1}, torch::kDouble)));  // renormalised top-1
}

TEST(Router, GroupLimitedRoutingStaysInTopGroups) {
  torch::manual_seed(14);
  for (const char* score : {"softmax", "sigmoid"}) {
    auto c = small_router_cfg(score, 8, 2, 16);
    c.moe.n_group = 4;
    c.moe.topk_group = 1;
    Router r(c);
    r->to(test_device());
    auto out = r->forward(dev(torch::randn({1, 30, 16})));
    auto group = torch::div(out.expert_TK, 2, "floor");
    EXPECT_TRUE(group.select(1, 0).eq(group.select(1, 1)).all().item<bool>()) << score;
  }
}

TEST(Router, JitterOnlyInTrainingAndOfStatedForm) {
  torch::manual_seed(15);
  auto x = dev(torch::randn({1, 50, 16}));
  for (const char* mode : {"input", "logits"}) {
    auto c = small_router_cfg("softmax", 8, 2, 16);
    c.moe.jitter = parse_enum_or_throw<Jitter>("jitter", mode);
    c.moe.jitter_eps = 0.02;
    Router r(c);
    r->to(test_device());
    r->eval();
    auto a = r->forward(x), b = r->forward(x);
    EXPECT_TRUE(a.logits_TE.equal(b.logits_TE)) << mode;
    r->train();
    auto t = r->forward(x);
    if (std::string(mode) == "input") {
      // logits are computed from the jittered input: differ, but within eps * |x||w| bounds
      EXPECT_FALSE(t.logits_TE.equal(a.logits_TE));
      auto bound = (x.reshape({50, 16}).abs().matmul(r->weight.abs().t())) * 0.02 + 1e-6;
      EXPECT_TRUE(((t.logits_TE - a.logits_TE).abs() <= bound).all().item<bool>());
    } else {
      // logits themselves are clean; the scores see N(0, eps^2) noise
      EXPECT_TRUE(t.logits_TE.equal(a.logits_TE));
      EXPECT_FALSE(t.scores_TE.equal(a.scores_TE));
    }
  }
}
