// hf_model_test.cpp: Hugging Face model directories (train/hf_checkpoint.h, run/hf_config.h).
// Every architecture's tiny fixture (tests/fixtures/hf/<arch>, or ../shared/fixtures/hf/<arch>
// when that directory exists: fixtures made by transformers itself) loads, its fp32 logits
// match expected.json within 1e-4, and greedy decoding (with and without the KV cache) gives
// the expected token ids. Damaged directories get errors naming the problem.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/hf_tokenizer.h"
#include "hf_fixture_writer.h"
#include "io/atomic_file.h"
#include "train/generate.h"
#include "train/hf_checkpoint.h"
#include "train_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ../shared/fixtures/hf (transformers-made, when a machine with transformers wrote them) wins.
fs::path shared_fixtures() { return fs::path(MOESCOPE_SOURCE_DIR) / ".." / "shared" / "fixtures" / "hf"; }
bool using_shared() { return fs::is_directory(shared_fixtures()); }
fs::path fixture(const std::string& arch) {
  return (using_shared() ? shared_fixtures() : fs::path(moescope::testing::source_path("tests/fixtures/hf"))) / arch;
}

std::string load_error(const std::string& dir) {
  std::ostringstream log;
  try {
    load_model_dir(dir, "cpu", log);
  } catch (const std::exception& ex) {
    return ex.what();
  }
  return "";
}

class HfArch : public ::testing::TestWithParam<std::string> {};

TEST_P(HfArch, LogitsAndGreedyMatchTheReference) {
  const fs::path dir = fixture(GetParam());
  ASSERT_TRUE(fs::exists(dir / "expected.json")) << dir;
  const json e = json::parse(read_file((dir / "expected.json").string()));
  std::ostringstream log;
  LoadedRun run = load_model_dir(dir.string(), "cpu", log);
  if (GetParam() == "deepseek_v3") EXPECT_NE(log.str().find("multi-token-prediction"), std::string::npos) << log.str();

  // The directory's own tokenizer.json, through the Hugging Face tokenizer.
  ASSERT_EQ(run.tokenizer->kind(), "hf");
  const auto enc = run.tokenizer->encode(e["prompt"].get<std::string>());
  EXPECT_EQ(std::vector<int64_t>(enc.begin(), enc.end()), e["prompt_ids"].get<std::vector<int64_t>>());

  const auto ids = e["input_ids"].get<std::vector<int64_t>>();
  at::Tensor logits;
  {
    torch::NoGradGuard ng;
    logits = run.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0)).logits_BSV[0].to(torch::kDouble);
  }
  const auto want = e["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(logits.size(0), static_cast<int64_t>(want.size()));
  ASSERT_EQ(logits.size(1), static_cast<int64_t>(want[0].size()));
  double worst = 0, scale = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t v = 0; v < want[t].size(); ++v) {
      worst = std::max(worst, std::fabs(logits[t][v].item<double>() - want[t][v]));
      scale = std::max(scale, std::fabs(want[t][v]));
    }
  std::cout << GetParam() << ": max |logit - expected| = " << worst << " (largest |expected| " << scale << ")\n";
  EXPECT_LE(worst, 1e-4) << GetParam() << ": max |logit - expected| (largest |expected| " << scale << ")";
  EXPECT_GT(scale, 1.0) << "logits this small would make the tolerance meaningless";

  const auto prompt64 = e["prompt_ids"].get<std::vector<int64_t>>();
  const std::vector<int32_t> prompt(prompt64.begin(), prompt64.end());
  const auto greedy = e["greedy_new_ids"].get<std::vector<int64_t>>();
  for (bool cache : {true, false}) {
    SampleOptions o;
    o.temperature = 0;
    o.max_new_tokens = static_cast<int64_t>(greedy.size());
    o.use_cache = cache;
    const auto r = generate(run.model, prompt, o, torch::Device(torch::kCPU));
    EXPECT_EQ(std::vector<int64_t>(r.tokens.begin(), r.tokens.end()), greedy) << GetParam() << " cache " << cache;
  }
}

// The committed fixture is exactly what the writer and the reference produce today.
TEST_P(HfArch, CommittedFixtureIsReproducible) {
  if (using_shared()) GTEST_SKIP() << "transformers-made fixtures in ../shared are used";
  moescope::testing::ScratchRun s("hf-regen-" + GetParam());
  const std::string out = s.run("fx");
  hffix::write_fixture(GetParam(), out);
  for (const auto& f : fs::directory_iterator(out)) {
    const fs::path committed = fixture(GetParam()) / f.path().filename();
    ASSERT_TRUE(fs::exists(committed)) << committed;
    EXPECT_TRUE(read_file(committed.string()) == read_file(f.path().string())) << committed << " differs from the writer's";
  }
}

INSTANTIATE_TEST_SUITE_P(All, HfArch, ::testing::ValuesIn(hffix::architectures()),
                         [](const auto& i) { return i.param; });

// A scratch copy of a committed fixture to damage.
struct Damaged {
  moescope::testing::ScratchRun s;
  std::string dir;
  explicit Damaged(const std::string& arch) : s("hf-bad-" + arch) {
    dir = s.run(arch);
    fs::copy(moescope::testing::source_path("tests/fixtures/hf/" + arch), dir, fs::copy_options::recursive);
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
  EXPECT_NE(err.find("tensor 'model.layers.0.block_sparse_moe.experts.0.w1.weight' has shape [32, 48], config.json implies [40, 48]"),
            std::string::npos) << err;
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
