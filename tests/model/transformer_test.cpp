// transformer_test.cpp: model structure, names, parameter counts, and that it learns.
// Forwards and the short training run use the test device (tests/test_util.h).
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
  for (const char* name : {"embed_tokens.weight", "layers.0.mlp.gate_proj.weight", "layers.1.mlp.gate.weight",
                           "layers.1.mlp.experts.3.down_proj.weight", "layers.1.mlp.shared_experts.up_proj.weight",
                           "layers.2.self_attn.kv_a_proj_with_mqa.weight", "layers.2.self_attn.kv_b_proj.weight",
                           "layers.2.self_attn.q_a_layernorm.weight", "layers.0.input_layernorm.weight",
                           "norm.weight", "lm_head.weight"})
    EXPECT_NE(params.find(name), nullptr) << name;
  EXPECT_NE(m->named_buffers().find("layers.1.mlp.gate.e_score_correction_bias"), nullptr);
  for (auto& p : params) EXPECT_EQ(p.key().find("e_score_correction_bias"), std::string::npos);
}

TEST(Transformer, TiedEmbeddingsAndActiveParams) {
  auto cfg = tiny_config({"model.tie_embeddings=true"}).model;
  Transformer m(cfg);
  EXPECT_EQ(m->named_parameters().find("lm_head.weight"), nullptr);
  // Active = total - (E - k) routed experts per MoE layer.
  const int64_t per_expert = 3 * cfg.d_model * cfg.moe.expert_hidden;
  EXPECT_EQ(m->num_params() - m->num_active_params(), (cfg.moe.n_routed - cfg.moe.top_k) * per_expert * cfg.n_moe_layers());
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
