// hf_export_test.cpp: `moescope export` (train/hf_model_dir.h export_hf_model): a moescope
// model written as a Hugging Face directory (deepseek_v3, deepseek_v2, qwen3_moe, qwen2_moe,
// mixtral, olmoe: hf/config_export.h) loads back (load_model_dir) with bit-identical logits,
// and settings no architecture expresses are refused by name. That transformers itself computes
// the same logits from these directories: tests/python/test_hf_export.py.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "train/generate.h"
#include "train/hf_model_dir.h"
#include "train_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

// The tiny preset as a deepseek_v3-compatible model with every exported feature switched on.
Config exportable(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> sets = {"model.vocab_size=272",
                                   "moe.score_func=sigmoid",
                                   "moe.n_routed=8",
                                   "moe.n_group=2",
                                   "moe.topk_group=1",
                                   "moe.routed_scaling_factor=2.5",
                                   "attn.rope_scaling=yarn",
                                   "attn.yarn_factor=4",
                                   "attn.yarn_original_max_position=16",
                                   "attn.yarn_mscale=1",
                                   "attn.yarn_mscale_all_dim=0.8",
                                   "attn.yarn_softmax_mscale=true"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return moescope::testing::tiny_config(sets);
}

const std::string kHfTokenizerDir = MOESCOPE_SOURCE_DIR "/tests/fixtures/hf/deepseek_v3";

TEST(HfExport, RoundTripIsExact) {
  moescope::testing::ScratchRun s("hf-export");
  for (bool tied : {false, true}) {
    // Untied: also a fused shared expert wider than n_shared x expert_hidden (exported as
    // n_shared_experts = shared_hidden / expert_hidden, the same module).
    Config cfg = exportable({std::string("model.tie_embeddings=") + (tied ? "true" : "false"),
                             tied ? "moe.shared_hidden=0" : "moe.shared_hidden=48"});
    torch::manual_seed(7);
    Transformer model(cfg.model);
    {
      torch::NoGradGuard ng;  // non-trivial norms and router biases
      for (auto& p : model->named_parameters())
        if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
      for (auto* l : model->moe_layers()) l->gate->bias.uniform_(-0.05, 0.05);
    }
    model->eval();
    const std::string out = s.run(tied ? "tied" : "untied");
    export_hf_model(model, cfg, kHfTokenizerDir, out);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
      EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
    const auto hf = nlohmann::json::parse(read_file(out + "/config.json"));
    EXPECT_EQ(hf["model_type"], "deepseek_v3");
    EXPECT_EQ(hf["bos_token_id"], 261);
    EXPECT_EQ(hf["n_shared_experts"], tied ? 1 : 3);

    std::ostringstream log;
    LoadedRun back = load_model_dir(out, "cpu", log);
    auto ids = torch::tensor(std::vector<int64_t>{261, 84, 257, 258, 259, 121, 32, 97, 270}, torch::kLong).unsqueeze(0);
    torch::NoGradGuard ng;
    auto a = model->forward(ids).logits_BSV, b = back.model->forward(ids).logits_BSV;
    EXPECT_TRUE(torch::equal(a, b)) << "max diff " << (a - b).abs().max().item<double>();
    SampleOptions o;
    o.temperature = 0;
    o.max_new_tokens = 5;
    EXPECT_EQ(generate(model, {84, 257}, o, torch::Device(torch::kCPU)).tokens,
              generate(back.model, {84, 257}, o, torch::Device(torch::kCPU)).tokens);
  }
}

// Every other architecture export writes: the model_type, and the same logits through moescope's
// own loader (which reads each one as transformers does: tests/train/hf_model_test.cpp).
TEST(HfExport, EveryArchitectureRoundTrips) {
  moescope::testing::ScratchRun s("hf-export-arch");
  const std::vector<std::string> softmax = {"moe.score_func=softmax", "moe.bias_balance=false"};
  const std::vector<std::string> mha = {
      "moe.score_func=softmax", "moe.bias_balance=false", "attn.type=mha",
      "attn.n_heads=4",         "attn.n_kv_heads=2",      "attn.rope_scaling=none",
      "moe.n_group=1",          "moe.topk_group=1",       "moe.routed_scaling_factor=1"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"deepseek_v2", with(softmax, {"moe.norm_topk_prob=false", "moe.n_shared=2"})},
      {"deepseek_v3", with(softmax, {"model.ffn=dense"})},  // no MoE layer: the router does not matter
      {"qwen3_moe", with(mha, {"attn.qk_norm=head", "moe.n_shared=0", "moe.norm_topk_prob=false"})},
      {"qwen2_moe", with(mha, {"attn.qkv_bias=true", "moe.shared_expert_gate=true", "moe.shared_hidden=24"})},
      {"mixtral", with(mha, {"moe.n_shared=0", "moe.first_k_dense=0"})},
      {"olmoe", with(mha, {"attn.qk_norm=full", "attn.clip_qkv=3", "moe.n_shared=0", "moe.first_k_dense=0"})},
  };
  for (const auto& [type, sets] : cases) {
    Config cfg = exportable(sets);
    torch::manual_seed(11);
    Transformer model(cfg.model);
    {
      torch::NoGradGuard ng;
      for (auto& p : model->named_parameters())
        if (p.key().find("norm") != std::string::npos || p.key().find("bias") != std::string::npos)
          p.value().uniform_(0.5, 1.5);
    }
    model->eval();
    const std::string out = s.run(type);
    export_hf_model(model, cfg, kHfTokenizerDir, out);
    const auto hf = nlohmann::json::parse(read_file(out + "/config.json"));
    EXPECT_EQ(hf["model_type"], type);
    std::ostringstream log;
    LoadedRun back = load_model_dir(out, "cpu", log);
    auto ids = torch::tensor(std::vector<int64_t>{261, 84, 257, 258, 259, 121, 32, 97, 270}, torch::kLong).unsqueeze(0);
    torch::NoGradGuard ng;
    auto a = model->forward(ids).logits_BSV, b = back.model->forward(ids).logits_BSV;
    EXPECT_TRUE(torch::equal(a, b)) << type << ": max diff " << (a - b).abs().max().item<double>();
  }
}

TEST(HfExport, SettingsWithoutAnHfEquivalentAreRefused) {
  moescope::testing::ScratchRun s("hf-export-refuse");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"moe.capacity_factor=1.25", "moe.capacity_factor = 1.25"},
      {"moe.score_func=softmax", "moe.bias_balance = true with moe.score_func = softmax"},
      {"moe.score_func=softmax;moe.bias_balance=false", "moe.norm_topk_prob = true with moe.score_func = softmax"},
      {"moe.bias_in_weights=true", "moe.bias_in_weights = true"},
      {"attn.type=mha", "attn.type = mha"},
      {"moe.shared_hidden=40", "a multiple of moe.expert_hidden (16)"},
  };
  for (const auto& [set, want] : cases) {
    std::vector<std::string> sets;
    for (size_t b = 0, e; b <= set.size(); b = e + 1) {
      e = set.find(';', b);
      if (e == std::string::npos) e = set.size();
      sets.push_back(set.substr(b, e - b));
    }
    Config cfg = exportable(sets);
    Transformer model(cfg.model);
    const std::string out = s.run("x");
    try {
      export_hf_model(model, cfg, kHfTokenizerDir, out);
      ADD_FAILURE() << set << " was exported";
    } catch (const std::invalid_argument& ex) {
      EXPECT_NE(std::string(ex.what()).find(want), std::string::npos) << ex.what();
    }
    EXPECT_FALSE(fs::exists(out)) << "nothing is written when refused";
  }
}

}  // namespace
