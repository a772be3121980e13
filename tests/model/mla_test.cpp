// mla_test.cpp: KV-cache size and cached (absorbed) decoding against full forwards.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/transformer.h"

using namespace moescope;
using moescope::testing::tiny_config;

TEST(KVCache, BytesPerTokenMatchFormula) {
  auto cfg = tiny_config().model;  // MLA: kv_lora_rank 8, rope 4, 2 layers
  for (auto [dt, bytes] : {std::pair{at::kFloat, 4}, std::pair{at::kBFloat16, 2}}) {
    KVCache c(cfg, 3, 10, dt, at::kCPU);
    EXPECT_EQ(c.bytes_per_token(), (8 + 4) * 2 * bytes);
    EXPECT_EQ(cache_bytes_per_token(cfg, bytes), (8 + 4) * 2 * bytes);
  }
  auto gqa = tiny_config({"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"}).model;  // head_dim 8
  KVCache c(gqa, 1, 4, at::kFloat, at::kCPU);
  EXPECT_EQ(c.bytes_per_token(), 2 * 2 * 8 * 2 * 4);
  EXPECT_EQ(cache_bytes_per_token(gqa, 4), 2 * 2 * 8 * 2 * 4);
}

TEST(MLA, AbsorbedCacheFormEqualsExplicitForm) {
  torch::manual_seed(41);
  auto cfg = tiny_config().model;
  MLA mla(cfg);
  mla->to(torch::kDouble);
  auto x = torch::randn({2, 9, cfg.d_model}, torch::kDouble);
  auto full = mla->forward(x, 0, nullptr);
  KVCache cache(cfg, 2, 16, at::kDouble, at::kCPU);
  auto prefill = mla->forward(x, 0, &cache.layer(0));  // whole sequence through the absorbed form
  EXPECT_LT((prefill - full).abs().max().item<double>(), 1e-12);
}

// Prefill a prompt, then decode one token at a time; logits must equal the full forward.
TEST(KVCache, CachedDecodingMatchesFullForward) {
  const std::vector<std::vector<std::string>> variants = {
      {}, {"attn.q_lora_rank=0"}, {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"},
      {"attn.type=mha", "model.ffn=dense"}};
  for (const auto& sets : variants) {
    SCOPED_TRACE(::testing::PrintToString(sets));
    torch::manual_seed(42);
    auto cfg = tiny_config(sets).model;
    Transformer model(cfg);
    model->eval();
    torch::NoGradGuard ng;
    const int64_t B = 2, S = 12, P = 5;
    auto tokens = torch::randint(cfg.vocab_size, {B, S}, torch::kLong);
    auto full = model->forward(tokens).logits_BSV;
    KVCache cache(cfg, B, S, at::kFloat, at::kCPU);
    std::vector<at::Tensor> parts{model->forward(tokens.narrow(1, 0, P), 0, &cache).logits_BSV};
    for (int64_t t = P; t < S; ++t) parts.push_back(model->forward(tokens.narrow(1, t, 1), t, &cache).logits_BSV);
    EXPECT_EQ(cache.length(), S);
    EXPECT_LT((torch::cat(parts, 1) - full).abs().max().item<float>(), 1e-5);
    EXPECT_THROW(model->forward(tokens.narrow(1, 0, 1), S, &cache), c10::Error);  // cache full
  }
}
