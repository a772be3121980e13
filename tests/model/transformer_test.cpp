// transformer_test.cpp: model structure, names, parameter counts, and that it learns.
// Forwards and the short training run use the test device (tests/test_util.h).
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/transformer.h"

using namespace moescope;
using moescope::testing::dev;
using moescope::testing::test_device;
using moescope::testing::tiny_config;

TEST(Transformer, FirstKDenseAndHuggingFaceNames) {
  auto cfg = tiny_config({"model.n_layers=3", "moe.first_k_dense=1"}).model;
  Transformer m(cfg);
  EXPECT_EQ(m->moe_layers().size(), 2u);
  auto params = m->named_parameters();
  for (const char* name :
       {"embed_tokens.weight", "layers.0.mlp.gate_proj.weight", "layers.1.mlp.gate.weight",
        "layers.1.mlp.experts.3.down_proj.weight", "layers.1.mlp.shared_experts.up_proj.weight",
        "layers.2.self_attn.kv_a_proj_with_mqa.weight", "layers.2.self_attn.kv_b_proj.weight",
        "layers.2.self_attn.q_a_layernorm.weight", "layers.0.input_layernorm.weight", "norm.weight", "lm_head.weight"})
    EXPECT_NE(params.find(name), nullptr) << name;
  EXPECT_NE(m->named_buffers().find("layers.1.mlp.gate.e_score_correction_bias"), nullptr);
  for (auto& p : params) EXPECT_EQ(p.key().find("e_score_correction_bias"), std::string::npos);
}

TEST(Transformer, TorchDefaultWeightInit) {
  // model.weight_init = torch_default: Linear-like 2-D weights ~ U(+-1/sqrt(fan_in)) (std
  // 1/sqrt(3 fan_in)), the embedding ~ N(0, 1), norms ones, the router bias buffer zeros.
  torch::manual_seed(7);
  auto cfg = tiny_config({"model.weight_init=torch_default", "model.n_layers=2", "moe.first_k_dense=1"}).model;
  Transformer m(cfg);
  int64_t checked = 0;
  for (auto& p : m->named_parameters()) {
    const auto& w = p.value();
    if (p.key() == "embed_tokens.weight") {
      EXPECT_NEAR(w.std().item<double>(), 1.0, 0.05);
      EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.05);
    } else if (w.dim() == 2) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
      EXPECT_LE(w.abs().max().item<double>(), bound) << p.key();
      if (w.numel() >= 1000) {
        EXPECT_NEAR(w.std().item<double>() / (bound / std::sqrt(3.0)), 1.0, 0.1) << p.key();
      }
      ++checked;
    } else {
      EXPECT_TRUE(torch::equal(w, torch::ones_like(w))) << p.key();
    }
  }
  EXPECT_GT(checked, 10);
  EXPECT_NE(m->named_parameters().find("layers.1.mlp.gate.weight"), nullptr);
  const auto& bias = *m->named_buffers().find("layers.1.mlp.gate.e_score_correction_bias");
  EXPECT_EQ(bias.abs().sum().item<double>(), 0.0);
  // The default scheme is unchanged: N(0, init_std^2).
  auto def = tiny_config({"model.n_layers=2"}).model;
  Transformer n(def);
  EXPECT_NEAR(n->named_parameters().find("embed_tokens.weight")->std().item<double>(), def.init_std,
              0.2 * def.init_std);
}

TEST(Transformer, TiedEmbeddingsAndActiveParams) {
  auto cfg = tiny_config({"model.tie_embeddings=true"}).model;
  Transformer m(cfg);
  EXPECT_EQ(m->named_parameters().find("lm_head.weight"), nullptr);
  // Active = total - (E - k) routed experts per MoE layer.
  const int64_t per_expert = 3 * cfg.d_model * cfg.moe.expert_hidden;
  EXPECT_EQ(m->num_params() - m->num_active_params(),
            (cfg.moe.n_routed - cfg.moe.top_k) * per_expert * cfg.n_moe_layers());
  m->to(test_device());
  auto out = m->forward(dev(torch::randint(cfg.vocab_size, {1, 4}, torch::kLong)));
  EXPECT_EQ(out.logits_BSV.device(), test_device());
  EXPECT_EQ(out.logits_BSV.sizes(), (std::vector<int64_t>{1, 4, cfg.vocab_size}));
}

TEST(Transformer, RejectsSequencesPastMaxLen) {
  auto cfg = tiny_config({"model.max_seq_len=8", "train.seq_len=8"}).model;
  Transformer m(cfg);
  m->to(test_device());
  EXPECT_THROW(m->forward(dev(torch::zeros({1, 9}, torch::kLong))), c10::Error);
}

// A few Adam steps on one fixed batch: the loss must fall and the bias update must run.
TEST(Transformer, TinyModelLossFallsWithBiasBalancing) {
  moescope::testing::record_device();
  torch::manual_seed(51);
  auto cfg = tiny_config({"moe.bias_update_rate=0.01"}).model;
  Transformer m(cfg);
  m->to(test_device());
  m->train();
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(3e-3));
  auto tokens = dev(torch::randint(cfg.vocab_size, {4, 17}, torch::kLong));
  auto inp = tokens.narrow(1, 0, 16), tgt = tokens.narrow(1, 1, 16);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    auto out = m->forward(inp);
    auto ce = torch::nn::functional::cross_entropy(out.logits_BSV.reshape({-1, cfg.vocab_size}), tgt.reshape({-1}));
    (ce + out.aux_loss).backward();
    opt.step();
    m->update_router_biases();
    if (step == 0) first = ce.item<double>();
    last = ce.item<double>();
  }
  EXPECT_LT(last, first * 0.7) << "first " << first << " last " << last;
  EXPECT_GT(m->moe_layers()[0]->gate->bias.abs().sum().item<double>(), 0.0);
}
