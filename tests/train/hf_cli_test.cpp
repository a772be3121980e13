// hf_cli_test.cpp: Hugging Face model directories through the moescope binary: `eval --model`,
// `generate --model`, `train --init` (microscope on from the first step; a model too large for
// memory with its AdamW states is refused with an estimate; every fixture's first 5 AdamW
// steps give transformers' losses) and `export` from the command line.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "hf_fixtures.h"
#include "io/atomic_file.h"
#include "train_test_util.h"

using moescope::testing::cli;
using moescope::testing::source_path;

namespace {

const std::string kOlmoe = source_path("tests/fixtures/hf/olmoe");

TEST(HfCli, EvalAndGenerateAcceptAModelDirectory) {
  moescope::testing::ScratchRun s("hf-cli-eval");
  auto [rc, out] = cli("eval --model " + kOlmoe + " --data " + s.corpus() + " --device cpu --max-batches 2", false);
  ASSERT_EQ(rc, 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_GT(j["val_loss"].get<double>(), 0.0);
  std::tie(rc, out) = cli(
      "generate --model " + kOlmoe + " --prompt 'The theory' --tokens 4 --temperature 0 --json --device cpu", false);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["new_tokens"], 4);
}

TEST(HfCli, TrainInitStartsFromTheModelWithTheMicroscopeOn) {
  moescope::testing::ScratchRun s("hf-cli-init");
  const std::string run = s.run("init");
  auto [rc, out] =
      cli("train --init " + kOlmoe + " --out " + run + " --data " + s.corpus() +
          " --set train.device=cpu --set train.dtype=fp32 --set train.max_steps=2 --set train.batch_size=2"
          " --set train.seq_len=16 --set train.log_every=1 --set train.eval_every=2 --set train.ckpt_every=2"
          " --set train.eval_max_batches=1 --set data.cache_dir=" +
          s.cache());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("init: "), std::string::npos) << out;
  const auto cfg = nlohmann::json::parse(moescope::read_file(run + "/config.json"));
  EXPECT_EQ(cfg["model"]["vocab_size"], 272);  // config.json's, not the tokenizer's 263
  EXPECT_EQ(cfg["attn"]["qk_norm"], "full");
  std::ifstream metrics(run + "/metrics.jsonl");
  std::string first;
  ASSERT_TRUE(std::getline(metrics, first));
  EXPECT_NE(first.find("\"entropy_norm\""), std::string::npos)
      << "routing metrics from the first logged step: " << first;
}

// `train --init DIR` under the --set overrides the fixture names (constant lr, AdamW betas/eps,
// weight decay on the 2-d weights but embeddings, clipping at 1, no bias update) on a corpus
// whose train split is one 17-token window (so every batch is that window): the losses of the
// first 5 steps are those of transformers' own AdamW loop from the same directory, within 1e-3.
class HfInitTrain : public ::testing::TestWithParam<std::string> {};

TEST_P(HfInitTrain, FiveAdamWStepsMatchTransformers) {
  const std::string dir = moescope::testing::hf_fixture_dir(GetParam());
  const auto e = nlohmann::json::parse(moescope::read_file(dir + "/expected.json"));
  moescope::testing::ScratchRun s("hf-init-adamw-" + GetParam());
  const std::string corpus = s.run("window.txt"), run = s.run("run");
  moescope::write_file_atomic(corpus, e["train_text"].get<std::string>());
  std::string sets;
  for (const auto& [k, v] : e["moescope_set"].items())
    sets += " --set " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  auto [rc, out] = cli("train --init " + dir + " --out " + run + " --data " + corpus + sets +
                       " --set train.eval_every=1000 --set train.ckpt_every=1000 --set train.eval_max_batches=1"
                       " --set data.cache_dir=" +
                       s.cache());
  ASSERT_EQ(rc, 0) << out;
  const auto want = e["adamw_losses"].get<std::vector<double>>();
  std::vector<double> got;
  std::ifstream metrics(run + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("type", "") == "train") got.push_back(j["loss"].get<double>());
  }
  ASSERT_EQ(got.size(), want.size()) << out;
  std::ostringstream msg;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    msg << " " << got[i] << "/" << want[i];
    worst = std::max(worst, std::fabs(got[i] - want[i]));
  }
  std::cout << GetParam() << ": max |loss - transformers| over the 5 AdamW steps = " << worst << "\n";
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-3) << GetParam() << " step " << i << " (moescope/transformers:" << msg.str() << ")";
}

INSTANTIATE_TEST_SUITE_P(All, HfInitTrain, ::testing::ValuesIn(moescope::testing::hf_fixture_names()),
                         [](const auto& i) { return i.param; });

TEST(HfCli, TrainInitRefusesAModelTooLargeForMemory) {
  moescope::testing::ScratchRun s("hf-cli-init-big");
  auto [rc, out] =
      cli("train --init " + source_path("tests/fixtures/hf/deepseek_v3") + " --out " + s.run("big") + " --data " +
          s.corpus() + " --max-memory 1M --set train.device=cpu --set data.cache_dir=" + s.cache());
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("to train, more than the"), std::string::npos) << out;
  EXPECT_NE(out.find("Estimate:"), std::string::npos) << out;
}

// A run with a moescope tokenizer (char) exported, then used as a model directory: eval and
// scope --model read its moescope_tokenizer.json (before the tokenizer.json written for transformers), and the exported
// model's validation loss is the run's own on the same text (within 0.5%: eval --model takes its own batch size, so the
// windows differ; a wrong tokenizer or model would be off by far more: ln(vocab) is 4.2).
TEST(HfExport, ExportedCharRunEvaluatesAsAModelDirectory) {
  moescope::testing::ScratchRun s("hf-export-char");
  const std::string run = s.run("src"), hf = s.run("hf");
  auto [rc, out] = cli(
      "train --config " + source_path("configs/tiny.toml") + " --data " + s.corpus() + " --out " + run +
      " --set moe.score_func=sigmoid --set train.max_steps=4 --set train.dtype=fp32 --set data.cache_dir=" + s.cache());
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = cli("export --run " + run + " --out " + hf);
  ASSERT_EQ(rc, 0) << out;
  // moescope's own tokenizer, and its translation for transformers (tests/python/test_hf_export.py)
  ASSERT_TRUE(std::filesystem::exists(hf + "/moescope_tokenizer.json"));
  ASSERT_TRUE(std::filesystem::exists(hf + "/tokenizer.json"));
  std::tie(rc, out) = cli("eval --run " + run, false);
  ASSERT_EQ(rc, 0) << out;
  const double own = nlohmann::json::parse(out)["val_loss"].get<double>();
  std::tie(rc, out) = cli("eval --model " + hf + " --data " + s.corpus() + " --device cpu", false);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NEAR(nlohmann::json::parse(out)["val_loss"].get<double>(), own, 5e-3 * own);
  std::tie(rc, out) = cli("scope --model " + hf + " --data " + s.corpus() + " --out " + s.run("scoped") +
                          " --device cpu --batch 2 --seq-len 32 --cache-dir " + s.cache());
  ASSERT_EQ(rc, 0) << out;
}

// A softmax run without router bias or renormalisation is a deepseek_v2 (hf/config_export.h);
// the refusals (softmax with the selection bias, ...) are tested in hf_export_test.cpp and, through
// this CLI, in tests/python/test_hf_export.py.
TEST(HfExport, CliExportsASoftmaxRunAsDeepseekV2) {
  moescope::testing::ScratchRun s("hf-export-cli");
  const std::string out_dir = s.run("x");
  const auto [rc, out] =
      cli("export --run " + source_path("tests/fixtures/runs/tiny-remediated") + " --out " + out_dir);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(moescope::read_file(out_dir + "/config.json"))["model_type"], "deepseek_v2");
}

}  // namespace

namespace {

// --weights mapped evaluates the same model as the fp32 copy. The activations may be bf16 on a
// CPU where bf16 matmuls run natively and faster (train/dtype_choice.h), hence 2% of the loss.
TEST(HfCli, EvalWithMappedWeights) {
  moescope::testing::ScratchRun s("hf-cli-mapped");
  const std::string base = "eval --model " + kOlmoe + " --data " + s.corpus() + " --device cpu --max-batches 2";
  auto [rc, out] = cli(base + " --weights copy", false);
  ASSERT_EQ(rc, 0) << out;
  const double copy = nlohmann::json::parse(out)["val_loss"].get<double>();
  std::tie(rc, out) = cli(base + " --weights mapped", false);
  ASSERT_EQ(rc, 0) << out;
  const double mapped = nlohmann::json::parse(out)["val_loss"].get<double>();
  EXPECT_NEAR(mapped, copy, 0.02 * copy);
  std::tie(rc, out) = cli(base + " --weights mmap", true);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--weights"), std::string::npos) << out;
}

}  // namespace
