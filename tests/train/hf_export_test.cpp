// hf_export_test.cpp: `moescope export` (train/hf_checkpoint.h export_hf_model): a moescope
// model written as a Hugging Face deepseek_v3 directory loads back (load_model_dir) with
// bit-identical logits, and settings with no Hugging Face equivalent are refused by name.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "train/generate.h"
#include "train/hf_checkpoint.h"
#include "train_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

// The tiny preset as a deepseek_v3-compatible model with every exported feature switched on.
Config exportable(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> sets = {"model.vocab_size=272", "moe.score_func=sigmoid", "moe.n_routed=8", "moe.n_group=2",
                                   "moe.topk_group=1", "moe.routed_scaling_factor=2.5", "attn.rope_scaling=yarn",
                                   "attn.yarn_factor=4", "attn.yarn_original_max_position=16", "attn.yarn_mscale=1",
                                   "attn.yarn_mscale_all_dim=0.8", "attn.yarn_softmax_mscale=true"};
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

TEST(HfExport, SettingsWithoutAnHfEquivalentAreRefused) {
  moescope::testing::ScratchRun s("hf-export-refuse");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"moe.capacity_factor=1.25", "capacity dropping"},
      {"moe.score_func=softmax", "moe.score_func = softmax"},
      {"moe.bias_in_weights=true", "moe.bias_in_weights = true"},
      {"attn.type=mha", "attn.type = mha"},
      {"moe.shared_hidden=40", "a multiple of moe.expert_hidden (16)"},
  };
  for (const auto& [set, want] : cases) {
    Config cfg = exportable({set});
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
