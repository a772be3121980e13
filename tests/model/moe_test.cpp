// moe_test.cpp: sorted dispatch (fast path) against the naive masked reference, in double.
// Tolerance: 1e-10 absolute on outputs and on every parameter's gradient (the two paths add
// the same fp64 terms in a different order; observed differences are ~1e-16), on the CPU and on
// the GPU (MOESCOPE_TEST_DEVICE=cuda, tests/test_util.h). The compute dtypes (fp32, bf16) have
// their own test and tolerances below.
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/moe.h"
#include "model/moe_reference.h"

using namespace moescope;
using moescope::testing::cpu;
using moescope::testing::dev;
using moescope::testing::test_device;
using moescope::testing::tiny_config;

namespace {
constexpr double kTol = 1e-10;

struct Case {
  std::string score;
  double capacity;
  std::string policy;
  int64_t n_shared;
};

std::string name(const Case& c) {
  return c.score + "/cf=" + std::to_string(c.capacity) + "/" + c.policy + "/shared=" + std::to_string(c.n_shared);
}

ModelConfig moe_cfg(const Case& c) {
  auto cfg =
      tiny_config({"moe.score_func=" + c.score, "moe.capacity_factor=" + std::to_string(c.capacity),
                   "moe.drop_policy=" + c.policy, "moe.n_shared=" + std::to_string(c.n_shared), "moe.n_routed=6",
                   "moe.top_k=2", "moe.aux_loss_alpha=0.01", "moe.seq_aux_loss_alpha=0.01", "moe.z_loss_beta=0.001"})
          .model;
  return cfg;
}

std::map<std::string, at::Tensor> grads_of(MoELayerImpl& m) {
  std::map<std::string, at::Tensor> g;
  for (auto& p : m.named_parameters())
    g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value());
  return g;
}
}  // namespace

TEST(MoEDispatch, FastMatchesNaiveOutputsAndGradients) {
  moescope::testing::record_device();
  std::vector<Case> cases;
  for (std::string score : {"softmax", "sigmoid"})
    for (double cf : {0.0, 0.5})
      for (std::string policy : {"score", "position"})
        for (int64_t shared : {0, 1})
          if (cf > 0 || policy == "score") cases.push_back({score, cf, policy, shared});
  for (const auto& c : cases) {
    SCOPED_TRACE(name(c));
    torch::manual_seed(21);
    auto cfg = moe_cfg(c);
    MoELayer layer(cfg, cfg.n_layers);
    layer->to(test_device(), torch::kDouble);
    auto x = dev(torch::randn({3, 7, cfg.d_model}, torch::kDouble)).requires_grad_(true);
    auto R = dev(torch::randn({3, 7, cfg.d_model}, torch::kDouble));

    auto y_fast = layer->forward(x);
    ((y_fast * R).sum() + layer->aux_loss()).backward();
    auto g_fast = grads_of(*layer);
    auto gx_fast = x.grad().clone();
    const auto& rec = layer->last();
    if (c.capacity > 0) EXPECT_GT(rec.n_dropped, 0) << "case must exercise drops";
    else EXPECT_EQ(rec.n_dropped, 0);

    layer->zero_grad();
    x.mutable_grad().zero_();
    at::Tensor keep_ref;
    auto y_ref = moe_reference_forward(*layer, x, &keep_ref);
    auto r = layer->gate->forward(x);  // same routing; aux loss for the reference total
    ((y_ref * R).sum() + r.aux_loss).backward();
    auto g_ref = grads_of(*layer);

    EXPECT_TRUE(rec.keep_TK.equal(keep_ref));
    EXPECT_LT((y_fast - y_ref).abs().max().item<double>(), kTol);
    EXPECT_LT((gx_fast - x.grad()).abs().max().item<double>(), kTol);
    ASSERT_EQ(g_fast.size(), g_ref.size());
    for (auto& [k, g] : g_fast) {
      EXPECT_LT((g - g_ref[k]).abs().max().item<double>(), kTol) << k;
      EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << k;
    }
    // Every routed expert that received a kept token got a gradient.
    for (int64_t e = 0; e < cfg.moe.n_routed; ++e)
      if (rec.kept_E[e].item<int64_t>() > 0) {
        EXPECT_GT(g_fast["experts." + std::to_string(e) + ".gate_proj.weight"].abs().sum().item<double>(), 0);
      }
  }
}

// The compute dtypes of training: fp32 and bf16 activations over fp32 master weights. The router
// computes in fp32 either way, so both paths route identically; they differ only in rounding.
// Tolerances, relative to the largest |value| of the reference: fp32 1e-5 on outputs and input
// gradients (IEEE fp32: LibTorch leaves TF32 matmuls off by default); bf16 3e-2 on outputs and
// 5e-2 on input gradients (8-bit mantissa; the two paths round different intermediates).
TEST(MoEDispatch, FastMatchesNaiveInComputeDtypes) {
  moescope::testing::record_device();
  for (auto [dt, tol_y, tol_g] : {std::tuple{at::kFloat, 1e-5, 1e-5}, std::tuple{at::kBFloat16, 3e-2, 5e-2}}) {
    for (double cf : {0.0, 0.5}) {
      const Case c{"softmax", cf, "score", 1};
      SCOPED_TRACE(name(c) + (dt == at::kFloat ? " fp32" : " bf16"));
      torch::manual_seed(24);
      auto cfg = moe_cfg(c);
      MoELayer layer(cfg, cfg.n_layers);
      layer->to(test_device());
      auto x = dev(torch::randn({4, 16, cfg.d_model})).to(dt).requires_grad_(true);
      auto R = dev(torch::randn({4, 16, cfg.d_model})).to(dt);
      auto y_fast = layer->forward(x);
      EXPECT_EQ(y_fast.scalar_type(), dt);
      (y_fast * R).sum().backward();
      auto gx_fast = x.grad().clone();
      auto keep_fast = layer->last().keep_TK;
      x.mutable_grad().zero_();
      at::Tensor keep_ref;
      auto y_ref = moe_reference_forward(*layer, x, &keep_ref);
      (y_ref * R).sum().backward();
      EXPECT_TRUE(keep_fast.equal(keep_ref));
      auto rel = [](const at::Tensor& a, const at::Tensor& ref) {
        return (a.to(at::kFloat) - ref.to(at::kFloat)).abs().max().item<double>() /
               ref.to(at::kFloat).abs().max().item<double>();
      };
      const double ey = rel(y_fast, y_ref), eg = rel(gx_fast, x.grad());
      const std::string tag = std::string(dt == at::kFloat ? "fp32" : "bf16") + "_cf" + std::to_string(int(cf * 10));
      moescope::testing::record_value("rel_err_y_" + tag, ey);
      moescope::testing::record_value("rel_err_gx_" + tag, eg);
      EXPECT_LT(ey, tol_y);
      EXPECT_LT(eg, tol_g);
    }
  }
}

TEST(MoEDispatch, DroppedTokensContributeNothing) {
  moescope::testing::record_device();
  torch::manual_seed(22);
  auto cfg = tiny_config({"moe.n_shared=0", "moe.capacity_factor=0.25", "moe.n_routed=4", "moe.top_k=1"}).model;
  MoELayer layer(cfg, cfg.n_layers);
  layer->to(test_device());
  auto x = dev(torch::randn({2, 16, cfg.d_model}));
  auto y = layer->forward(x).reshape({32, -1});
  const auto& rec = layer->last();
  ASSERT_GT(rec.n_dropped, 0);
  auto dropped_T = rec.keep_TK.logical_not().all(1);
  EXPECT_EQ(dropped_T.sum().item<int64_t>(), rec.n_dropped);  // top-1: a dropped slot = a dropped token
  EXPECT_EQ(y.index({dropped_T}).abs().max().item<float>(), 0.0f);
  EXPECT_GT(y.index({dropped_T.logical_not()}).abs().min().item<float>(), 0.0f);
  EXPECT_EQ(rec.kept_E.sum().item<int64_t>() + rec.n_dropped, 32);
}

TEST(MoELayer, CountsAccumulateOverMicroBatchesAndSkipRecompute) {
  moescope::testing::record_device();
  torch::manual_seed(23);
  auto cfg = tiny_config({"moe.bias_update_rate=0.01"}).model;
  MoELayer layer(cfg, cfg.n_layers);
  layer->to(test_device());
  layer->train();
  auto x1 = dev(torch::randn({2, 8, cfg.d_model})), x2 = dev(torch::randn({2, 8, cfg.d_model}));
  layer->forward(x1);
  auto c1 = layer->last().counts_E.clone();
  layer->forward(x2);
  auto c2 = layer->last().counts_E.clone();
  {
    RecomputeScope rs;  // activation recomputation must not count tokens twice
    layer->forward(x1);
  }
  EXPECT_TRUE(layer->last().counts_E.equal(c2));  // record untouched by the recompute
  auto pending = cpu(layer->pending_counts());
  EXPECT_TRUE(pending.equal(cpu(c1 + c2)));
  EXPECT_EQ(pending.sum().item<int64_t>(), 2 * 16 * cfg.moe.top_k);
  auto expected = torch::sign(pending.to(torch::kFloat).mean() - pending.to(torch::kFloat)) * 0.01;
  layer->update_bias();
  EXPECT_TRUE(torch::allclose(cpu(layer->gate->bias), expected));
  EXPECT_EQ(layer->pending_counts().sum().item<int64_t>(), 0);
  layer->eval();
  layer->forward(x1);  // evaluation forwards do not feed the bias update
  EXPECT_EQ(layer->pending_counts().sum().item<int64_t>(), 0);
}

// The inference path for few assignments (decoding, MoELayerImpl::direct_forward: no sort, no
// dispatch plan) against the sorted dispatch on the same layer and input, in double; tolerance
// 1e-12 absolute (the same fp64 terms, summed in another order). Covers one token (direct even
// with a capacity) and a few tokens (direct only when dropless), softmax and sigmoid routing.
TEST(MoELayer, DirectDecodePathMatchesSortedDispatch) {
  for (const Case& c :
       {Case{"softmax", 0.0, "score", 1}, Case{"sigmoid", 0.0, "score", 0}, Case{"softmax", 1.0, "position", 1}}) {
    torch::manual_seed(5);
    const auto cfg = moe_cfg(c);
    MoELayer layer(cfg, 2);
    layer->to(torch::kDouble);
    layer->eval();
    for (int64_t S : {1, 3}) {
      auto x = torch::randn({1, S, cfg.d_model}, torch::kDouble);
      at::Tensor sorted, direct;
      sorted = layer->forward(x).detach();  // grad mode on: always the sorted dispatch
      {
        torch::NoGradGuard ng;
        direct = layer->forward(x);
      }
      EXPECT_LE((sorted - direct).abs().max().item<double>(), 1e-12) << name(c) << " S=" << S;
      EXPECT_EQ(layer->last().counts_E.sum().item<int64_t>(), S * 2);
    }
  }
}
