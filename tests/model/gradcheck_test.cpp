// gradcheck_test.cpp: finite-difference gradient checks (double precision) of the MoE layer
// (with balance/z losses and capacity drops) and of MLA / GQA attention.
// Central differences, eps = 1e-6; tolerance 1e-6 relative (observed ~1e-9), on the test device
// (tests/test_util.h: MOESCOPE_TEST_DEVICE; fp64 on the GPU too).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/attention.h"
#include "model/mla.h"
#include "model/moe.h"

using namespace moescope;
using moescope::testing::dev;
using moescope::testing::gradcheck;
using moescope::testing::test_device;
using moescope::testing::tiny_config;

namespace {
constexpr double kTol = 1e-6;

std::vector<at::Tensor> params_and(torch::nn::Module& m, const at::Tensor& x) {
  auto v = m.parameters();
  v.push_back(x);
  return v;
}
}  // namespace

TEST(GradCheck, MoELayerSoftmaxWithLosses) {
  moescope::testing::record_device();
  torch::manual_seed(31);
  auto cfg = tiny_config({"moe.aux_loss_alpha=0.1", "moe.seq_aux_loss_alpha=0.1", "moe.z_loss_beta=0.01",
                          "moe.routed_scaling_factor=1.5"})
                 .model;
  MoELayer layer(cfg, cfg.n_layers);
  layer->to(test_device(), torch::kDouble);
  auto x = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble)).requires_grad_(true);
  auto R = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble));
  auto f = [&] {
    auto y = layer->forward(x);  // sets aux_loss(): evaluate first
    return (y * R).sum() + layer->aux_loss();
  };
  EXPECT_LT(gradcheck(f, params_and(*layer, x)), kTol);
}

TEST(GradCheck, MoELayerSigmoidGroupedWithCapacity) {
  torch::manual_seed(32);
  auto cfg = tiny_config({"moe.score_func=sigmoid", "moe.n_group=2", "moe.topk_group=1", "moe.capacity_factor=0.75",
                          "moe.aux_loss_alpha=0.1"})
                 .model;
  MoELayer layer(cfg, cfg.n_layers);
  layer->to(test_device(), torch::kDouble);
  auto x = dev(torch::randn({2, 6, cfg.d_model}, torch::kDouble)).requires_grad_(true);
  auto R = dev(torch::randn({2, 6, cfg.d_model}, torch::kDouble));
  auto f = [&] {
    auto y = layer->forward(x);  // sets aux_loss(): evaluate first
    return (y * R).sum() + layer->aux_loss();
  };
  EXPECT_LT(gradcheck(f, params_and(*layer, x)), kTol);
  EXPECT_GT(layer->last().n_dropped, 0);
}

TEST(GradCheck, MLAWithAndWithoutQueryLoRA) {
  for (int64_t q_rank : {0, 16}) {
    SCOPED_TRACE("q_lora_rank=" + std::to_string(q_rank));
    torch::manual_seed(33);
    auto cfg = tiny_config({"attn.q_lora_rank=" + std::to_string(q_rank)}).model;
    MLA mla(cfg);
    mla->to(test_device(), torch::kDouble);
    auto x = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble)).requires_grad_(true);
    auto R = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble));
    auto f = [&] { return (mla->forward(x, 0, nullptr) * R).sum(); };
    EXPECT_LT(gradcheck(f, params_and(*mla, x)), kTol);
  }
}

TEST(GradCheck, GroupedQueryAttention) {
  torch::manual_seed(34);
  auto cfg = tiny_config({"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"}).model;
  Attention attn(cfg);
  attn->to(test_device(), torch::kDouble);
  auto x = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble)).requires_grad_(true);
  auto R = dev(torch::randn({2, 5, cfg.d_model}, torch::kDouble));
  auto f = [&] { return (attn->forward(x, 0, nullptr) * R).sum(); };
  EXPECT_LT(gradcheck(f, params_and(*attn, x)), kTol);
}
