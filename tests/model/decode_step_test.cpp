// decode_step_test.cpp: the single-token decode path (model/decode_step.h) against the torch
// path (model->forward with a KVCache, fp32, inference mode), for configs that between them
// cover every branch it takes: the demo preset; a DeepSeek-V3-like one (q_lora, sigmoid scores
// with the selection bias, n_group/topk_group, routed_scaling_factor, YaRN with both mscales
// and the softmax mscale); the seed's softmax router (bias_on_logits + bias_in_weights) with
// tied embeddings and a full-rank query; sigmoid bias_in_weights without shared experts;
// MHA/GQA with per-head qk_norm, qkv biases, clip_qkv and a shared-expert gate; MHA with the
// full qk_norm on dense layers.
// Every parameter is redrawn with spread (norm weights around 1, router biases that change the
// selection), so a dropped or misplaced detail moves the logits. Over a 5-token prompt and 40
// greedy steps, each step's logits agree within 1e-4 of the largest |logit| (fp32 sums in
// another order; measured differences are ~1e-6), and the greedy tokens are identical.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_paths.h"
#include "model/decode_step.h"
#include "model/kv_cache.h"

using namespace moescope;
using moescope::testing::source_path;
using moescope::testing::tiny_config;

namespace {

void randomise(Transformer& m, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  torch::NoGradGuard ng;
  for (auto& p : m->named_parameters()) {
    auto& t = p.value();
    if (t.dim() == 1) t.copy_(1.0 + 0.3 * torch::randn_like(t));  // norm weights, qkv biases
    else t.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(t.size(1))));
  }
  for (auto& b : m->named_buffers())
    if (b.key().find("e_score_correction_bias") != std::string::npos) b.value().normal_(0.0, 0.25);
}

struct Trace {
  std::vector<std::vector<float>> logits;  // per decode step
  std::vector<int32_t> tokens;             // greedy choices
};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

Trace torch_path(Transformer& m, const std::vector<int32_t>& prompt, int steps) {
  c10::InferenceMode im;
  m->eval();
  KVCache cache(m->cfg(), 1, m->cfg().max_seq_len, at::kFloat, torch::kCPU);
  std::vector<int64_t> p(prompt.begin(), prompt.end());
  auto logits = m->forward(torch::tensor(p, torch::kLong).view({1, -1}), 0, &cache).logits_BSV;
  Trace t;
  for (int i = 0; i < steps; ++i) {
    auto row = logits[0][logits.size(1) - 1].contiguous();
    t.logits.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    t.tokens.push_back(argmax(t.logits.back()));
    logits = m->forward(torch::tensor({static_cast<int64_t>(t.tokens.back())}, torch::kLong).view({1, 1}),
                        cache.length(), &cache)
                 .logits_BSV;
  }
  return t;
}

Trace fast_path(Transformer& m, const std::vector<int32_t>& prompt, int steps) {
  DecodeStep s(*m);
  std::vector<float> logits;
  for (int32_t tok : prompt) logits = s.step(tok);
  Trace t;
  for (int i = 0; i < steps; ++i) {
    t.logits.push_back(logits);
    t.tokens.push_back(argmax(logits));
    logits = s.step(t.tokens.back());
  }
  EXPECT_EQ(s.length(), static_cast<int64_t>(prompt.size()) + steps);
  return t;
}

ModelConfig named_config(const std::string& name) {
  if (name == "demo") return load_config(source_path("configs/demo.toml"), {"model.vocab_size=256"}).model;
  const std::vector<std::vector<std::string>> sets = {
      // deepseek_v3
      {"model.n_layers=3", "moe.n_routed=8", "moe.n_group=4", "moe.topk_group=2", "moe.score_func=sigmoid",
       "moe.routed_scaling_factor=2.5", "attn.rope_scaling=yarn", "attn.yarn_factor=4",
       "attn.yarn_original_max_position=16", "attn.yarn_mscale=1.0", "attn.yarn_mscale_all_dim=0.8",
       "attn.yarn_softmax_mscale=true"},
      // seed_softmax
      {"moe.bias_on_logits=true", "moe.bias_in_weights=true", "model.tie_embeddings=true", "attn.q_lora_rank=0",
       "moe.norm_topk_prob=false", "moe.first_k_dense=0"},
      // sigmoid_bias_in_weights
      {"moe.score_func=sigmoid", "moe.bias_in_weights=true", "moe.n_shared=0", "moe.first_k_dense=0"},
      // mha_gqa
      {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2", "attn.head_dim=8", "attn.qk_norm=head",
       "attn.qkv_bias=true", "attn.clip_qkv=1.5", "moe.shared_expert_gate=true", "model.n_layers=3"},
      // mha_full_dense
      {"attn.type=mha", "attn.n_heads=4", "attn.qk_norm=full", "model.ffn=dense", "model.tie_embeddings=true"},
  };
  const std::vector<std::string> names = {"deepseek_v3", "seed_softmax", "sigmoid_bias_in_weights", "mha_gqa",
                                          "mha_full_dense"};
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return tiny_config(sets[i]).model;
  throw std::invalid_argument("no config " + name);
}

class DecodeStepVsTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeStepVsTorch, LogitsAndGreedyTokensMatch) {
  const ModelConfig cfg = named_config(GetParam());
  torch::manual_seed(3);
  Transformer m(cfg);
  randomise(m, 11);
  ASSERT_EQ(DecodeStep::unsupported(*m), "");
  const std::vector<int32_t> prompt = {5, 17, 3, 42, 9};
  const int steps = 40;
  const Trace want = torch_path(m, prompt, steps);
  const Trace got = fast_path(m, prompt, steps);
  double worst = 0;
  for (int i = 0; i < steps; ++i) {
    double big = 1.0, diff = 0;
    for (size_t v = 0; v < want.logits[i].size(); ++v) {
      big = std::max(big, std::abs(static_cast<double>(want.logits[i][v])));
      diff = std::max(diff, std::abs(static_cast<double>(want.logits[i][v]) - got.logits[i][v]));
    }
    worst = std::max(worst, diff / big);
    ASSERT_LE(diff, 1e-4 * big) << GetParam() << " step " << i;
  }
  EXPECT_EQ(got.tokens, want.tokens) << GetParam();
  ::testing::Test::RecordProperty("worst_relative_diff", ::testing::PrintToString(worst));
}

INSTANTIATE_TEST_SUITE_P(Configs, DecodeStepVsTorch,
                         ::testing::Values("demo", "deepseek_v3", "seed_softmax", "sigmoid_bias_in_weights", "mha_gqa",
                                           "mha_full_dense"));

TEST(DecodeStep, RefusesWhatItDoesNotCoverAndAFullCache) {
  auto cfg = tiny_config({"model.max_seq_len=4", "train.seq_len=4"}).model;
  {
    Transformer capped(tiny_config({"moe.capacity_factor=1.25"}).model);
    EXPECT_NE(DecodeStep::unsupported(*capped).find("capacity_factor"), std::string::npos);
  }
  Transformer m(cfg);
  m->compute_dtype = at::kDouble;
  EXPECT_EQ(DecodeStep::unsupported(*m), "compute dtype double");
  EXPECT_THROW(DecodeStep{*m}, std::invalid_argument);
  m->compute_dtype = at::kBFloat16;  // the snapshot is fp32 whatever the model computes in
  EXPECT_EQ(DecodeStep::unsupported(*m), "");
  DecodeStep s(*m);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s.step(1).size(), static_cast<size_t>(cfg.vocab_size));
  EXPECT_THROW(s.step(1), std::out_of_range);
  s.reset();
  EXPECT_NO_THROW(s.step(1));
  EXPECT_THROW(s.step(static_cast<int32_t>(cfg.vocab_size)), std::out_of_range);
}

}  // namespace
