// mla_test.cpp: KV-cache size and cached (absorbed) decoding against full forwards.
// On the test device (tests/test_util.h: MOESCOPE_TEST_DEVICE); models and tokens are drawn on
// the CPU and moved. Tolerances: fp64 1e-12, fp32 1e-5 absolute on the logits (IEEE fp32 on
// both devices: LibTorch leaves TF32 matmuls off), bf16 3e-2 of the largest |logit|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/transformer.h"

using namespace moescope;
using moescope::testing::dev;
using moescope::testing::test_device;
using moescope::testing::tiny_config;

TEST(KVCache, BytesPerTokenMatchFormula) {
  auto cfg = tiny_config().model;  // MLA: kv_lora_rank 8, rope 4, 2 layers
  for (auto [dt, bytes] : {std::pair{at::kFloat, 4}, std::pair{at::kBFloat16, 2}}) {
    KVCache c(cfg, 3, 10, dt, test_device());
    EXPECT_EQ(c.bytes_per_token(), (8 + 4) * 2 * bytes);
    EXPECT_EQ(cache_bytes_per_token(cfg, bytes), (8 + 4) * 2 * bytes);
  }
  auto gqa = tiny_config({"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"}).model;  // head_dim 8
  KVCache c(gqa, 1, 4, at::kFloat, test_device());
  EXPECT_EQ(c.bytes_per_token(), 2 * 2 * 8 * 2 * 4);
  EXPECT_EQ(cache_bytes_per_token(gqa, 4), 2 * 2 * 8 * 2 * 4);
}

TEST(MLA, AbsorbedCacheFormEqualsExplicitForm) {
  moescope::testing::record_device();
  torch::manual_seed(41);
  auto cfg = tiny_config().model;
  MLA mla(cfg);
  mla->to(test_device(), torch::kDouble);
  auto x = dev(torch::randn({2, 9, cfg.d_model}, torch::kDouble));
  auto full = mla->forward(x, 0, nullptr);
  KVCache cache(cfg, 2, 16, at::kDouble, test_device());
  auto prefill = mla->forward(x, 0, &cache.layer(0));  // whole sequence through the absorbed form
  EXPECT_LT((prefill - full).abs().max().item<double>(), 1e-12);
}

namespace {
// Prefill P tokens, then decode one at a time; returns max |cached - full| over all logits and
// (in *scale) the largest |full logit|.
double cached_vs_full(Transformer& model, const ModelConfig& cfg, at::ScalarType dt, double* scale) {
  model->eval();
  model->compute_dtype = dt;
  torch::NoGradGuard ng;
  const int64_t B = 2, S = 12, P = 5;
  auto tokens = dev(torch::randint(cfg.vocab_size, {B, S}, torch::kLong));
  auto full = model->forward(tokens).logits_BSV;
  KVCache cache(cfg, B, S, dt, test_device());
  std::vector<at::Tensor> parts{model->forward(tokens.narrow(1, 0, P), 0, &cache).logits_BSV};
  for (int64_t t = P; t < S; ++t) parts.push_back(model->forward(tokens.narrow(1, t, 1), t, &cache).logits_BSV);
  EXPECT_EQ(cache.length(), S);
  EXPECT_THROW(model->forward(tokens.narrow(1, 0, 1), S, &cache), c10::Error);  // cache full
  *scale = full.to(at::kFloat).abs().max().item<double>();
  return (torch::cat(parts, 1).to(at::kFloat) - full.to(at::kFloat)).abs().max().item<double>();
}
}  // namespace

// Prefill a prompt, then decode one token at a time; logits must equal the full forward.
TEST(KVCache, CachedDecodingMatchesFullForward) {
  moescope::testing::record_device();
  const std::vector<std::vector<std::string>> variants = {{},
                                                          {"attn.q_lora_rank=0"},
                                                          {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"},
                                                          {"attn.type=mha", "model.ffn=dense"}};
  for (size_t i = 0; i < variants.size(); ++i) {
    SCOPED_TRACE(::testing::PrintToString(variants[i]));
    torch::manual_seed(42);
    auto cfg = tiny_config(variants[i]).model;
    Transformer model(cfg);
    model->to(test_device());
    double scale = 0;
    const double diff = cached_vs_full(model, cfg, at::kFloat, &scale);
    moescope::testing::record_value("max_abs_diff_fp32_" + std::to_string(i), diff);
    EXPECT_LT(diff, 1e-5);
  }
}

// bf16 activations and a bf16 cache, as `generate` runs on a GPU. Dense FFNs only: in bf16 a
// near-tie in a router can pick another expert in one of the two paths, which is no cache error.
TEST(KVCache, CachedDecodingMatchesFullForwardInBf16) {
  moescope::testing::record_device();
  const std::vector<std::vector<std::string>> variants = {
      {"model.ffn=dense"},
      {"model.ffn=dense", "attn.q_lora_rank=0"},
      {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2", "model.ffn=dense"}};
  for (size_t i = 0; i < variants.size(); ++i) {
    SCOPED_TRACE(::testing::PrintToString(variants[i]));
    torch::manual_seed(43);
    auto cfg = tiny_config(variants[i]).model;
    Transformer model(cfg);
    model->to(test_device());
    double scale = 0;
    const double diff = cached_vs_full(model, cfg, at::kBFloat16, &scale);
    moescope::testing::record_value("rel_diff_bf16_" + std::to_string(i), diff / scale);
    EXPECT_GT(scale, 0.0);
    EXPECT_LT(diff, 3e-2 * scale);
  }
}

// Whole-sequence attention (training's path: with LibTorch 2.x on a CPU the fused causal kernel,
// MLA's values zero-padded to the q/k width) against the same model in fp64, which runs the
// explicit scores -> causal_softmax -> values form: logits and every parameter gradient.
// Tolerances: logits 1e-5 of the largest |logit|, gradients 1e-4 of each gradient's largest entry.
TEST(Attention, WholeSequenceFp32MatchesFp64ExplicitForm) {
  for (const char* type : {"mla", "mha"}) {
    SCOPED_TRACE(type);
    torch::manual_seed(43);
    auto cfg = tiny_config({std::string("attn.type=") + type, "attn.n_heads=4", "attn.n_kv_heads=2"}).model;
    Transformer m32(cfg), m64(cfg);
    {
      torch::NoGradGuard ng;
      auto src = m32->named_parameters(), dst = m64->named_parameters();
      for (auto& kv : src) dst[kv.key()].copy_(kv.value());
    }
    m64->to(torch::kDouble);
    m64->compute_dtype = at::kDouble;
    m32->to(test_device());
    m64->to(test_device());
    auto tokens = dev(torch::randint(cfg.vocab_size, {2, 11}, torch::kLong));
    auto l32 = m32->forward(tokens).logits_BSV, l64 = m64->forward(tokens).logits_BSV;
    const double scale = l64.abs().max().item<double>();
    EXPECT_LT((l32.to(at::kDouble) - l64).abs().max().item<double>(), 1e-5 * scale);
    auto w = dev(torch::randn(l64.sizes(), torch::kDouble));  // a fixed random projection as the loss
    (l32 * w.to(at::kFloat)).sum().backward();
    (l64 * w).sum().backward();
    auto g32 = m32->named_parameters(), g64 = m64->named_parameters();
    for (auto& kv : g64) {
      if (!kv.value().grad().defined()) continue;
      const auto& a = g32[kv.key()].grad();
      ASSERT_TRUE(a.defined()) << kv.key();
      const double gmax = kv.value().grad().abs().max().item<double>();
      EXPECT_LE((a.to(at::kDouble) - kv.value().grad()).abs().max().item<double>(), 1e-4 * gmax + 1e-12) << kv.key();
    }
  }
}
