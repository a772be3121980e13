// hf_model_test.cpp: Hugging Face model directories (train/hf_model_dir.h, hf/config_import.h)
// against transformers itself. Every fixture (tests/fixtures/hf/<name>, written and measured by
// scripts/make_hf_fixtures.py with the pinned transformers, fp32 on the CPU) loads, and:
//   - its logits at both input lengths match transformers' within 1e-4 of the largest logit;
//   - every MoE layer picks the same top-k experts for every token (no near-tie is exempted:
//     the script only accepts weights whose selection margin is >= 1e-4, recorded per layer)
//     with the same routing weights (1e-4);
//   - greedy decoding gives transformers' 16 tokens (model.generate, KV cache) on the
//     single-token path (model/decode_step.h), and through model->forward with and without
//     moescope's KV cache;
//   - one training forward/backward gives transformers' loss and per-group gradient norms
//     (1e-4 relative).
// Damaged directories get errors naming the problem.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hf/tokenizer.h"
#include "hf_fixtures.h"
#include "io/atomic_file.h"
#include "model/hf_weights.h"
#include "train/evaluate.h"
#include "train/generate.h"
#include "train/hf_model_dir.h"
#include "train_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path fixture(const std::string& name) { return moescope::testing::hf_fixture_dir(name); }

std::string load_error(const std::string& dir) {
  std::ostringstream log;
  try {
    load_model_dir(dir, "cpu", log);
  } catch (const std::exception& ex) {
    return ex.what();
  }
  return "";
}

json expected(const std::string& name) { return json::parse(read_file((fixture(name) / "expected.json").string())); }

class HfArch : public ::testing::TestWithParam<std::string> {};

TEST_P(HfArch, LogitsRoutingAndGreedyMatchTransformers) {
  const fs::path dir = fixture(GetParam());
  const json e = expected(GetParam());
  std::ostringstream log;
  LoadedRun run = load_model_dir(dir.string(), "cpu", log);
  if (GetParam().rfind("deepseek_v3", 0) == 0) {
    EXPECT_NE(log.str().find("multi-token-prediction"), std::string::npos) << log.str();
  }

  // The directory's own tokenizer.json, through moescope's Hugging Face tokenizer.
  ASSERT_EQ(run.tokenizer->kind(), "hf");
  const auto enc = run.tokenizer->encode(e["prompt"].get<std::string>());
  EXPECT_EQ(std::vector<int64_t>(enc.begin(), enc.end()), e["prompt_ids"].get<std::vector<int64_t>>());

  for (const json& in : e["inputs"]) {
    const auto ids = in["input_ids"].get<std::vector<int64_t>>();
    const std::string what = GetParam() + " (" + std::to_string(ids.size()) + " tokens)";
    at::Tensor logits;
    {
      torch::NoGradGuard ng;
      logits = run.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0)).logits_BSV[0].to(torch::kDouble);
    }
    const auto want_v = in["logits"].get<std::vector<std::vector<double>>>();
    ASSERT_EQ(logits.size(0), static_cast<int64_t>(want_v.size())) << what;
    ASSERT_EQ(logits.size(1), static_cast<int64_t>(want_v[0].size())) << what;
    at::Tensor want = torch::empty_like(logits);
    for (size_t t = 0; t < want_v.size(); ++t)
      for (size_t v = 0; v < want_v[t].size(); ++v) want[t][v] = want_v[t][v];
    const double worst = (logits - want).abs().max().item<double>(), scale = want.abs().max().item<double>();
    std::cout << what << ": max |logit - transformers| = " << worst << " (largest |logit| " << scale << ")\n";
    EXPECT_LE(worst, 1e-4 * scale) << what << ": max |logit - transformers| (largest |logit| " << scale << ")";
    EXPECT_GT(scale, 1.0) << "logits this small would make the tolerance meaningless";

    // Routing of the same forward: each MoE layer's top-k ids (ordered by id) and weights.
    const auto layers = run.model->moe_layers();
    ASSERT_EQ(layers.size(), in["routing"].size()) << what << ": MoE layers";
    for (size_t l = 0; l < layers.size(); ++l) {
      const json& r = in["routing"][l];
      const RoutingRecord& rec = layers[l]->last();
      ASSERT_TRUE(rec.valid) << what;
      auto sorted = rec.expert_TK.sort(-1);
      const at::Tensor ids_TK = std::get<0>(sorted),
                       w_TK = rec.weight_TK.gather(-1, std::get<1>(sorted)).to(torch::kDouble);
      const auto want_ids = r["ids"].get<std::vector<std::vector<int64_t>>>();
      const auto want_w = r["weights"].get<std::vector<std::vector<double>>>();
      ASSERT_EQ(ids_TK.size(0), static_cast<int64_t>(want_ids.size())) << what;
      int64_t wrong = 0;
      double worst_w = 0;
      for (size_t t = 0; t < want_ids.size(); ++t)
        for (size_t k = 0; k < want_ids[t].size(); ++k) {
          if (ids_TK[t][k].item<int64_t>() != want_ids[t][k]) {
            ++wrong;
            continue;
          }
          worst_w = std::max(worst_w, std::fabs(w_TK[t][k].item<double>() - want_w[t][k]));
        }
      EXPECT_EQ(wrong, 0) << what << " layer " << r["layer"] << ": top-k ids differ from transformers' in " << wrong
                          << " slots (selection margin " << r["min_margin"] << ")";
      EXPECT_LE(worst_w, 1e-4) << what << " layer " << r["layer"] << ": routing weights";
    }
  }

  const auto prompt64 = e["prompt_ids"].get<std::vector<int64_t>>();
  const std::vector<int32_t> prompt(prompt64.begin(), prompt64.end());
  const auto greedy = e["greedy_new_ids"].get<std::vector<int64_t>>();
  ASSERT_EQ(greedy.size(), 16u);
  // The single-token path (model/decode_step.h, generate's default on the CPU), model->forward
  // with the KV cache, and without it.
  for (int path : {0, 1, 2}) {
    SampleOptions o;
    o.temperature = 0;
    o.max_new_tokens = static_cast<int64_t>(greedy.size());
    o.use_cache = path < 2;
    o.fast_path = path == 0;
    const auto r = generate(run.model, prompt, o, torch::Device(torch::kCPU));
    EXPECT_EQ(r.how.fast, path == 0) << GetParam() << ": " << r.how.reason;
    EXPECT_EQ(std::vector<int64_t>(r.tokens.begin(), r.tokens.end()), greedy) << GetParam() << " " << r.how.reason;
  }
}

// The parameter group of a Hugging Face tensor name, as scripts/make_hf_fixtures.py groups them
// (PARAM_GROUPS there: first match wins; per layer where the name has one).
std::string param_group(const std::string& name) {
  static const std::vector<std::pair<std::string, std::regex>> groups = {
      {"embed", std::regex(R"(^model\.embed_tokens\.)")},
      {"lm_head", std::regex(R"(^lm_head\.)")},
      {"final_norm", std::regex(R"(^model\.norm\.)")},
      {"attn", std::regex(R"(\.self_attn\.)")},
      {"norms", std::regex(R"(layernorm\.weight$)")},
      {"router", std::regex(R"(\.gate\.weight$)")},
      {"shared", std::regex(R"(\.shared_experts?(_gate)?\.)")},
      {"experts", std::regex(R"(\.experts\.)")},
      {"dense_mlp", std::regex(R"(\.mlp\.)")}};
  std::smatch m;
  const bool layer = std::regex_search(name, m, std::regex(R"(^model\.layers\.(\d+)\.)"));
  for (const auto& [g, re] : groups)
    if (std::regex_search(name, re)) return layer ? "layers." + m[1].str() + "." + g : g;
  return "";
}

TEST_P(HfArch, OneTrainingStepMatchesTransformers) {
  const fs::path dir = fixture(GetParam());
  const json e = expected(GetParam());
  std::ostringstream log;
  LoadedRun run = load_model_dir(dir.string(), "cpu", log);
  const std::string model_type = read_hf_config(dir.string()).model_type;
  const auto rows = e["one_step"]["input_ids"].get<std::vector<std::vector<int64_t>>>();
  const int64_t B = static_cast<int64_t>(rows.size()), S1 = static_cast<int64_t>(rows[0].size());
  auto ids = torch::empty({B, S1}, torch::kLong);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S1; ++s) ids[b][s] = rows[b][s];
  // transformers' labels = inputs: position s predicts token s + 1 (as moescope's trainer).
  run.model->train();
  run.model->zero_grad();
  auto out = run.model->forward(ids.narrow(1, 0, S1 - 1));
  auto loss = lm_loss(out.logits_BSV, ids.narrow(1, 1, S1 - 1)) + out.aux_loss.to(at::kFloat);
  loss.backward();
  const double want_loss = e["one_step"]["loss"].get<double>();
  EXPECT_NEAR(loss.item<double>(), want_loss, 1e-4 * std::max(1.0, std::fabs(want_loss))) << GetParam();

  std::map<std::string, double> sq;
  for (auto& p : run.model->named_parameters()) {
    const std::string name = hf_tensor_name(model_type, p.key());
    const std::string g = param_group(name);
    ASSERT_FALSE(g.empty()) << p.key() << " -> " << name;
    if (p.value().grad().defined()) sq[g] += p.value().grad().to(torch::kDouble).pow(2).sum().item<double>();
    else sq[g] += 0;
  }
  const auto want = e["one_step"]["grad_norms"].get<std::map<std::string, double>>();
  double worst_rel = 0;
  for (const auto& [g, w] : want) {
    ASSERT_TRUE(sq.count(g)) << GetParam() << ": no moescope parameter in group " << g;
    const double got = std::sqrt(sq[g]);
    EXPECT_NEAR(got, w, 1e-4 * std::max(w, 1e-3)) << GetParam() << ": gradient norm of " << g;
    worst_rel = std::max(worst_rel, std::fabs(got - w) / std::max(w, 1e-3));
  }
  std::cout << GetParam() << ": one step: |loss - transformers| = " << std::fabs(loss.item<double>() - want_loss)
            << ", largest relative gradient-norm deviation " << worst_rel << " over " << want.size() << " groups\n";
  for (const auto& [g, v] : sq) {
    if (!want.count(g)) {
      EXPECT_EQ(v, 0.0) << GetParam() << ": group " << g << " has a gradient transformers does not";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, HfArch, ::testing::ValuesIn(moescope::testing::hf_fixture_names()),
                         [](const auto& i) { return i.param; });

// A scratch copy of a committed fixture to damage.
struct Damaged {
  moescope::testing::ScratchRun s;
  std::string dir;
  explicit Damaged(const std::string& arch) : s("hf-bad-" + arch) {
    dir = s.run(arch);
    fs::copy(fixture(arch), dir, fs::copy_options::recursive);
  }
  json config() const { return json::parse(read_file(dir + "/config.json")); }
  void set_config(const json& j) const { write_file_atomic(dir + "/config.json", j.dump(2)); }
};

TEST(HfModelDir, MissingShard) {
  Damaged d("qwen3_moe");
  fs::remove(d.dir + "/model-00002-of-00003.safetensors");
  const std::string err = load_error(d.dir);
  EXPECT_NE(err.find("shard 'model-00002-of-00003.safetensors'"), std::string::npos) << err;
  EXPECT_NE(err.find("missing"), std::string::npos) << err;
}

TEST(HfModelDir, WrongDtype) {
  Damaged d("olmoe");
  std::string bytes = read_file(d.dir + "/model.safetensors");
  // Relabel the tensor's F32 as I32 (same size, so the header stays valid).
  const auto entry = bytes.find("\"model.norm.weight\":{");
  ASSERT_NE(entry, std::string::npos);
  const auto p = bytes.find("\"dtype\":\"F32\"", entry);
  ASSERT_NE(p, std::string::npos);
  bytes.replace(p, std::string("\"dtype\":\"F32\"").size(), "\"dtype\":\"I32\"");
  write_file_atomic(d.dir + "/model.safetensors", bytes);
  const std::string err = load_error(d.dir);
  EXPECT_NE(err.find("'model.norm.weight' has dtype I32"), std::string::npos) << err;
}

TEST(HfModelDir, ShapeMismatch) {
  Damaged d("mixtral");
  json c = d.config();
  c["intermediate_size"] = 40;
  d.set_config(c);
  const std::string err = load_error(d.dir);
  EXPECT_NE(err.find("tensor 'model.layers.0.block_sparse_moe.experts.0.w1.weight' has shape [32, 48], config.json "
                     "implies [40, 48]"),
            std::string::npos)
      << err;
}

TEST(HfModelDir, MissingAndExtraTensors) {
  {
    Damaged d("qwen3_moe");
    json c = d.config();
    c["tie_word_embeddings"] = false;  // now lm_head.weight is required
    d.set_config(c);
    const std::string err = load_error(d.dir);
    EXPECT_NE(err.find("tensor 'lm_head.weight' is missing"), std::string::npos) << err;
  }
  {
    Damaged d("olmoe");
    json c = d.config();
    c["num_hidden_layers"] = 1;
    d.set_config(c);
    const std::string err = load_error(d.dir);
    EXPECT_NE(err.find("unexpected tensor 'model.layers.1."), std::string::npos) << err;
  }
}

TEST(HfModelDir, UnsupportedModelTypeAndSettings) {
  Damaged d("mixtral");
  json c = d.config();
  c["model_type"] = "llama4_text";
  d.set_config(c);
  std::string err = load_error(d.dir);
  EXPECT_NE(err.find("model_type 'llama4_text' is not supported"), std::string::npos) << err;
  c["model_type"] = "mixtral";
  c["sliding_window"] = 16;
  d.set_config(c);
  err = load_error(d.dir);
  EXPECT_NE(err.find("sliding_window = 16"), std::string::npos) << err;
  c["sliding_window"] = nullptr;
  c["attention_sink_size"] = 4;  // a key nobody taught moescope
  d.set_config(c);
  err = load_error(d.dir);
  EXPECT_NE(err.find("config key 'attention_sink_size' is not supported"), std::string::npos) << err;
  c.erase("attention_sink_size");
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  d.set_config(c);
  err = load_error(d.dir);
  EXPECT_NE(err.find("rope type 'llama3' is not supported"), std::string::npos) << err;
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", "four"}};
  d.set_config(c);
  err = load_error(d.dir);
  EXPECT_NE(err.find("yarn field 'factor' must be a number"), std::string::npos) << err;
}

TEST(HfModelDir, TruncatedFile) {
  Damaged d("olmoe");
  const std::string bytes = read_file(d.dir + "/model.safetensors");
  write_file_atomic(d.dir + "/model.safetensors", bytes.substr(0, bytes.size() - 100));
  const std::string err = load_error(d.dir);
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
}

TEST(HfModelDir, DeepseekV2NormTopkProbIsRefused) {
  Damaged d("deepseek_v2");
  json c = d.config();
  c["norm_topk_prob"] = true;
  d.set_config(c);
  const std::string err = load_error(d.dir);
  EXPECT_NE(err.find("norm_topk_prob = true"), std::string::npos) << err;
}

}  // namespace
