// resource_estimate_test.cpp: the config-only estimate against built models (parameters exact,
// KV cache exact, activations roughly against measured memory growth) and its refusal message.
#include <sys/resource.h>

#include <iostream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "model/kv_cache.h"
#include "model/resource_estimate.h"
#include "model/transformer.h"

using namespace moescope;
using moescope::testing::tiny_config;

TEST(ResourceEstimate, ParameterCountsMatchBuiltModels) {
  const std::vector<std::vector<std::string>> variants = {
      {},
      {"attn.q_lora_rank=0"},
      {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2"},
      {"attn.type=mha", "attn.head_dim=16"},
      {"model.ffn=dense"},
      {"model.tie_embeddings=true", "moe.first_k_dense=0"},
      {"moe.n_shared=0", "moe.top_k=1"},
      {"moe.n_shared=2", "moe.shared_hidden=24", "model.n_layers=3"},
  };
  for (const auto& sets : variants) {
    const Config c = tiny_config(sets);
    Transformer m(c.model);
    const ResourceEstimate e = estimate_resources(c.model, c.train);
    EXPECT_EQ(e.params_total, static_cast<double>(m->num_params())) << ::testing::PrintToString(sets);
    EXPECT_EQ(e.params_active, static_cast<double>(m->num_active_params())) << ::testing::PrintToString(sets);
    EXPECT_EQ(e.resident[0].bytes, 4.0 * m->num_params());
    // The KV cache term is the cache generation allocates: batch 1 at max_seq_len, fp32.
    KVCache cache(c.model, 1, c.model.max_seq_len, at::kFloat, torch::kCPU);
    EXPECT_EQ(e.kv_cache.bytes, static_cast<double>(cache.bytes_per_token() * c.model.max_seq_len));
  }
}

// Configs far too large are estimated without overflow and refused naming the term and keys.
TEST(ResourceEstimate, RefusalNamesTheLargestTermAndItsKeys) {
  auto message = [](const std::vector<std::string>& sets, double limit) {
    const Config c = tiny_config(sets);
    try {
      check_fits_memory(estimate_resources(c.model, c.train), limit, "--max-memory");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const double gib = 1024.0 * 1024 * 1024;
  std::string m = message({"model.d_model=65536", "moe.expert_hidden=1048576", "moe.n_routed=4096", "moe.top_k=2",
                           "model.n_layers=1024", "moe.first_k_dense=0"},
                          64 * gib);
  EXPECT_NE(m.find("AdamW"), std::string::npos) << m;
  EXPECT_NE(m.find("moe.n_routed x moe.expert_hidden"), std::string::npos) << m;
  EXPECT_NE(m.find("--max-memory"), std::string::npos) << m;
  EXPECT_NE(m.find("64.0 GiB"), std::string::npos) << m;
  m = message({"train.batch_size=1048576", "train.seq_len=64"}, 64 * gib);
  EXPECT_NE(m.find("largest term is activations"), std::string::npos) << m;
  EXPECT_NE(m.find("train.batch_size"), std::string::npos) << m;
  m = message({"model.vocab_size=16777216"}, 1 * gib);
  EXPECT_NE(m.find("model.vocab_size"), std::string::npos) << m;
  EXPECT_EQ(message({}, 1 * gib), "accepted");
  EXPECT_EQ(message({}, 0), "accepted");  // no limit known
}

namespace {
double max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}
}  // namespace

// The activation term against the peak memory growth of one training forward + backward, with
// activations that dwarf the weights (long sequences: the S x S scores dominate). Loose bounds:
// an estimate, not a measurement; it must not be off by an order of magnitude either way.
TEST(ResourceEstimate, ActivationTermIsWithinAFactorOfMeasuredGrowth) {
  const Config c = tiny_config(
      {"model.max_seq_len=512", "train.seq_len=512", "train.batch_size=8", "attn.n_heads=4", "train.dtype=fp32"});
  Transformer m(c.model);
  const ResourceEstimate e = estimate_resources(c.model, c.train);
  ASSERT_GT(e.activations.bytes, 100.0 * e.resident[0].bytes);  // the activations dominate
  auto tokens = torch::randint(c.model.vocab_size, {c.train.batch_size, c.train.seq_len}, torch::kLong);
  const double before = max_rss_bytes();
  auto out = m->forward(tokens);
  auto loss =
      torch::nn::functional::cross_entropy(out.logits_BSV.reshape({-1, c.model.vocab_size}), tokens.reshape({-1}));
  loss.backward();
  const double growth = max_rss_bytes() - before;
  std::cout << "activations: estimated " << e.activations.bytes / 1e6 << " MB, measured peak growth " << growth / 1e6
            << " MB\n";
  EXPECT_GT(growth, e.activations.bytes / 4) << "estimate " << e.activations.bytes << " measured " << growth;
  EXPECT_LT(growth, e.activations.bytes * 4) << "estimate " << e.activations.bytes << " measured " << growth;
}

// Per rank of a multi-process run: the rank's rows of the global batch, and under expert
// parallelism only its own routed experts' weights, gradients and AdamW moments.
TEST(ResourceEstimate, PerRankBatchAndExpertShare) {
  const Config c = tiny_config({"moe.n_routed=8", "train.batch_size=8"});
  Transformer m(c.model);
  const ResourceEstimate one = estimate_resources(c.model, c.train);
  const ResourceEstimate dp = estimate_resources(c.model, c.train, 4, 1);
  const ResourceEstimate ep = estimate_resources(c.model, c.train, 4, 2);
  EXPECT_DOUBLE_EQ(dp.activations.bytes * 4, one.activations.bytes);
  EXPECT_DOUBLE_EQ(ep.activations.bytes, dp.activations.bytes);
  EXPECT_EQ(dp.params_rank, one.params_total);
  EXPECT_EQ(dp.resident[0].bytes, one.resident[0].bytes);
  // EP 2: rank 0 holds experts [0, 4) of every MoE layer; counted on the built model.
  double held = static_cast<double>(m->num_params());
  for (auto* l : m->moe_layers())
    for (int64_t e = 4; e < 8; ++e)
      for (const auto& p : l->experts[e]->parameters()) held -= static_cast<double>(p.numel());
  EXPECT_EQ(ep.params_rank, held);
  EXPECT_LT(ep.params_rank, one.params_total);
  EXPECT_EQ(ep.params_total, one.params_total);
  for (size_t i = 0; i < ep.resident.size(); ++i)
    EXPECT_DOUBLE_EQ(ep.resident[i].bytes * one.params_total, one.resident[i].bytes * held) << ep.resident[i].name;
  EXPECT_GT(ep.checkpoint.bytes, one.checkpoint.bytes);  // rank 0 gathers the others' experts to write
  EXPECT_NE(ep.summary().find("per rank of 4 (expert parallel 2)"), std::string::npos) << ep.summary();
  // A limit between the two peaks: refused for one process, accepted per rank.
  const double limit = (one.train_peak_bytes() + ep.train_peak_bytes()) / 2;
  EXPECT_THROW(check_fits_memory(one, limit, "--max-memory"), std::runtime_error);
  EXPECT_NO_THROW(check_fits_memory(ep, limit, "--max-memory"));
  EXPECT_THROW(estimate_resources(c.model, c.train, 4, 3), std::invalid_argument);
}
