// config_test.cpp: config.json import and export over their one key table (hf/config_keys.h):
// a model of every architecture exported and read back has every table field it had, every
// table key of that architecture is written, and a fixed key with another value is refused
// with its reason. (Against transformers' fixtures and logits: tests/train/hf_model_test.cpp,
// tests/train/hf_export_test.cpp.)
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hf/config_export.h"
#include "hf/config_import.h"
#include "hf/config_keys.h"
#include "test_paths.h"

using namespace moescope;
using nlohmann::json;

namespace {

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A model of each architecture (as tests/train/hf_export_test.cpp builds them).
std::vector<std::pair<std::string, Config>> one_per_architecture() {
  const std::vector<std::string> base = {"model.vocab_size=272", "moe.n_routed=8", "moe.routed_scaling_factor=2.5",
                                         "model.norm_eps=1e-6"};
  const std::vector<std::string> softmax = with(base, {"moe.score_func=softmax", "moe.bias_balance=false"});
  const std::vector<std::string> mha =
      with(softmax, {"attn.type=mha", "attn.n_heads=4", "attn.n_kv_heads=2", "attn.rope_scaling=none", "moe.n_group=1",
                     "moe.topk_group=1", "moe.routed_scaling_factor=1", "model.norm_eps=1e-5"});
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"deepseek_v3", with(base, {"moe.score_func=sigmoid", "moe.n_group=2", "moe.topk_group=1", "attn.q_lora_rank=0",
                                  "model.tie_embeddings=true"})},
      {"deepseek_v2", with(softmax, {"moe.norm_topk_prob=false", "moe.n_shared=2", "attn.q_lora_rank=24"})},
      {"qwen3_moe",
       with(mha, {"attn.qk_norm=head", "moe.n_shared=0", "moe.norm_topk_prob=false", "attn.rope_theta=5e5"})},
      {"qwen2_moe", with(mha, {"attn.qkv_bias=true", "moe.shared_expert_gate=true", "moe.shared_hidden=24"})},
      {"mixtral", with(mha, {"moe.n_shared=0", "moe.first_k_dense=0"})},
      {"olmoe", with(mha, {"attn.qk_norm=full", "attn.clip_qkv=3", "moe.n_shared=0", "moe.first_k_dense=0",
                           "moe.norm_topk_prob=false"})},
  };
  std::vector<std::pair<std::string, Config>> out;
  for (const auto& [type, sets] : cases) out.emplace_back(type, moescope::testing::tiny_config(sets));
  return out;
}

}  // namespace

TEST(HfConfigKeys, EveryArchitectureHasABit) {
  uint32_t all = 0;
  for (const auto& t : hf_model_types()) all |= hf_arch(t);
  EXPECT_EQ(all, kHfAll);
  EXPECT_EQ(hf_arch("llama"), 0u);
}

TEST(HfConfigKeys, ExportWritesEveryTableKeyAndImportReadsItBack) {
  for (auto& [type, cfg] : one_per_architecture()) {
    SCOPED_TRACE(type);
    const json c = export_hf_config(cfg.model, 1, 2);
    ASSERT_EQ(c["model_type"], type);
    const uint32_t bit = hf_arch(type);
    for (const auto& k : hf_fixed_keys())
      if ((k.archs & bit) && k.exported) {
        EXPECT_EQ(c.at(k.key), k.value) << k.key;
      }
    const HfModelConfig back = translate_hf_config(c, "exported");
    ModelConfig want = cfg.model, got = back.model;
    int n = 0;
    for (const auto& k : hf_field_keys()) {
      if (!(k.archs & bit)) continue;
      ASSERT_TRUE(c.contains(k.key)) << k.key;
      std::visit(
          [&](auto* w) {
            std::visit([&](auto* g) { EXPECT_EQ(double(*g), double(*w)) << k.key << " (" << k.field << ")"; },
                       k.ref(got));
          },
          k.ref(want));
      ++n;
    }
    EXPECT_GE(n, 10);  // mixtral: the 8 common fields and 2 of its own
  }
}

TEST(HfConfigKeys, NullStandsForZeroBothWays) {
  for (auto& [type, cfg] : one_per_architecture()) {
    if (type != "deepseek_v3" && type != "olmoe") continue;
    const json c = export_hf_config(cfg.model, -1, -1);
    if (type == "deepseek_v3") {
      EXPECT_TRUE(c["q_lora_rank"].is_null());
    }
    EXPECT_TRUE(c["bos_token_id"].is_null());
    EXPECT_EQ(translate_hf_config(c, "x").model.attn.q_lora_rank, 0);
  }
}

TEST(HfConfigKeys, AFixedKeyWithAnotherValueIsRefusedWithItsReason) {
  auto cases = one_per_architecture();
  for (auto& [type, cfg] : cases) {
    SCOPED_TRACE(type);
    const json good = export_hf_config(cfg.model, 1, 2);
    const uint32_t bit = hf_arch(type);
    for (const auto& k : hf_fixed_keys()) {
      if (!(k.archs & bit)) continue;
      json bad = good;
      bad[k.key] = k.value.is_boolean()  ? json(!k.value.get<bool>())
                   : k.value.is_string() ? json("gelu")
                   : k.value.is_null()   ? json(4096)
                                         : json(2);
      try {
        translate_hf_config(bad, "cfg.json");
        ADD_FAILURE() << k.key << " = " << bad[k.key] << " was accepted";
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string(k.key) + " = "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(k.why), std::string::npos) << e.what();
      }
    }
  }
}

TEST(HfConfigKeys, ARequiredFieldMissingIsNamed) {
  auto cases = one_per_architecture();
  const json good = export_hf_config(cases[0].second.model, 1, 2);
  for (const auto& k : hf_field_keys()) {
    if (!(k.archs & kHfDeepseekV3) || k.def) continue;
    json bad = good;
    bad.erase(k.key);
    try {
      translate_hf_config(bad, "cfg.json");
      ADD_FAILURE() << k.key << " missing was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(k.key) + ": missing"), std::string::npos) << e.what();
    }
  }
}

// Found by comparing the import before and after the key table on mutated configs: a GQA config
// with num_attention_heads = 0 divided by it (head_dim's default) and died of SIGFPE.
TEST(HfConfigKeys, ZeroAttentionHeadsIsRefusedNotADivisionByZero) {
  auto cases = one_per_architecture();
  for (auto& [type, cfg] : cases) {
    if (type != "qwen3_moe") continue;
    json bad = export_hf_config(cfg.model, 1, 2);
    bad["num_attention_heads"] = 0;
    bad.erase("head_dim");
    try {
      translate_hf_config(bad, "cfg.json");
      ADD_FAILURE() << "num_attention_heads = 0 was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("attn.n_heads = 0"), std::string::npos) << e.what();
    }
  }
}
