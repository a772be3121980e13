// generate_test.cpp: the sampling rules (greedy, top-k, top-p, repetition penalty, seeding), the
// decode precision choice, and the single-token path against model->forward through generate.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "../test_paths.h"
#include "train/generate.h"

using namespace moescope;

TEST(Sampling, GreedyTopKTopPAndPenalty) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};
  SampleOptions o;
  uint64_t rng = 1;
  o.temperature = 0;
  EXPECT_EQ(sample_token(logits, {}, o, &rng), 1);
  o.repetition_penalty = 2.0;  // token 1's logit 3.0 -> 1.5: token 4 (2.9) wins
  EXPECT_EQ(sample_token(logits, {1}, o, &rng), 4);
  o.repetition_penalty = 1.0;
  o.temperature = 1.0;
  o.top_k = 2;
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sample_token(logits, {}, o, &rng));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 4}));
  o.top_k = 0;
  o.top_p = 0.3;  // the top token alone holds > 30% of the mass
  seen.clear();
  for (int i = 0; i < 100; ++i) seen.insert(sample_token(logits, {}, o, &rng));
  EXPECT_EQ(seen, (std::set<int32_t>{1}));
  uint64_t a = 42, b = 42;  // same seed, same draws
  o.top_p = 1.0;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_token(logits, {}, o, &a), sample_token(logits, {}, o, &b));
}

namespace {
Transformer spread_model(const std::vector<std::string>& sets) {
  torch::manual_seed(5);
  Transformer m(moescope::testing::tiny_config(sets).model);
  torch::NoGradGuard ng;
  for (auto& p : m->parameters())
    if (p.dim() == 2) p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
  return m;
}
}  // namespace

// Decoding picks its own precision: on the CPU fp32 on the single-token path whatever the model
// trained in, the torch path when asked for, for bf16, without the cache, or for a double model;
// the model's compute dtype is back as it was after the call.
TEST(Generate, DecodeChoice) {
  auto m = spread_model({});
  const torch::Device cpu(torch::kCPU);
  m->compute_dtype = at::kBFloat16;  // what train.dtype = auto chose
  SampleOptions o;
  auto c = decode_choice(o, *m, cpu);
  EXPECT_TRUE(c.fast) << c.reason;
  EXPECT_EQ(c.dtype, at::kFloat);
  EXPECT_NE(c.reason.find("decode fp32 (auto on the CPU): single-token path"), std::string::npos) << c.reason;
  o.dtype = DType::kBf16;
  c = decode_choice(o, *m, cpu);
  EXPECT_FALSE(c.fast);
  EXPECT_EQ(c.dtype, at::kBFloat16);
  o.dtype = DType::kFp32;
  o.fast_path = false;
  EXPECT_FALSE(decode_choice(o, *m, cpu).fast);
  o.fast_path = true;
  o.use_cache = false;
  EXPECT_FALSE(decode_choice(o, *m, cpu).fast);
  o = SampleOptions{};
  m->compute_dtype = at::kDouble;
  c = decode_choice(o, *m, cpu);
  EXPECT_FALSE(c.fast);
  EXPECT_EQ(c.dtype, at::kDouble);
  EXPECT_NE(c.reason.find("model->forward with the KV cache"), std::string::npos) << c.reason;
  m->compute_dtype = at::kBFloat16;
  o.max_new_tokens = 3;
  const auto r = generate(m, {1, 2}, o, cpu);
  EXPECT_TRUE(r.how.fast);
  EXPECT_EQ(m->compute_dtype, at::kBFloat16);
}

// The single-token path and model->forward give the same greedy text, also across the cache
// rebuilds of a context longer than model.max_seq_len (16 here: rebuilt from the last 8 tokens).
TEST(Generate, FastPathMatchesTorchAcrossCacheRebuilds) {
  for (const char* attn : {"mla", "mha"}) {
    auto m = spread_model({"model.max_seq_len=16", "train.seq_len=16", std::string("attn.type=") + attn});
    SampleOptions o;
    o.temperature = 0;
    o.max_new_tokens = 40;
    const auto fast = generate(m, {3, 1, 4, 1, 5}, o, torch::kCPU);
    o.fast_path = false;
    const auto slow = generate(m, {3, 1, 4, 1, 5}, o, torch::kCPU);
    ASSERT_TRUE(fast.how.fast);
    ASSERT_FALSE(slow.how.fast);
    EXPECT_EQ(fast.tokens, slow.tokens) << attn;
    o.temperature = 0.9;  // sampling: the same draws from the same logits
    o.seed = 7;
    o.fast_path = true;
    const auto a = generate(m, {3, 1, 4}, o, torch::kCPU);
    o.fast_path = false;
    EXPECT_EQ(a.tokens, generate(m, {3, 1, 4}, o, torch::kCPU).tokens) << attn;
  }
}
