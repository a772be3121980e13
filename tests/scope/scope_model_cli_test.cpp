// scope_model_cli_test.cpp: `moescope scope --model DIR --data FILE --out RUN` through the binary,
// on every Hugging Face architecture fixture; the run it writes read back by `scope --run`
// (text and --json) and `report`; and its bad-input errors.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/jsonl.h"
#include "../train/train_test_util.h"

using moescope::testing::cli;
using moescope::testing::source_path;
namespace fs = std::filesystem;

namespace {
std::string fixture(const std::string& arch) { return source_path("tests/fixtures/hf/" + arch); }
}  // namespace

TEST(ScopeModelCli, EveryArchitectureFixtureWritesARunThatScopeReads) {
  moescope::testing::ScratchRun s("scope-model-archs");
  for (const char* arch : {"deepseek_v3", "deepseek_v2", "qwen2_moe", "qwen3_moe", "mixtral", "olmoe"}) {
    SCOPED_TRACE(arch);
    const std::string run = s.run(std::string("r-") + arch);
    auto [rc, out] = cli("scope --model " + fixture(arch) + " --data " + s.corpus() + " --out " + run +
                         " --device cpu --batch 4 --seq-len 32 --log-every 20 --cache-dir " + s.cache());
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("tokens/s"), std::string::npos) << out;
    EXPECT_NE(out.find("routing over 1 corpus"), std::string::npos) << out;
    EXPECT_NE(out.find("most frequent tokens per expert"), std::string::npos) << out;
    ASSERT_TRUE(fs::exists(run + "/routing_profile.json"));
    auto log = moescope::read_jsonl(run + "/metrics.jsonl");
    ASSERT_TRUE(log.warnings.empty());
    ASSERT_GE(log.records.size(), 2u);
    EXPECT_EQ(log.records.back()["type"], "eval");
    // deepseek_v3 has e_score_correction_bias: the bias intervention rate is measured.
    if (std::string(arch) == "deepseek_v3") {
      double bi = 0;
      for (auto& r : log.records)
        if (r["type"] == "train")
          for (auto& l : r["moe"]) bi = std::max(bi, l["bias_intervention"].get<double>());
      EXPECT_GT(bi, 0.0) << "the fixture's random correction bias changes some choices";
    }
    // `scope --run` reads it: the health table and the profile, as text and as JSON.
    std::tie(rc, out) = cli("scope --run " + run + " --json", false);
    ASSERT_EQ(rc, 0) << out;
    const auto j = nlohmann::json::parse(out);
    ASSERT_TRUE(j.contains("profile"));
    EXPECT_EQ(j["profile"]["corpora"][0]["name"], s.corpus());
    EXPECT_EQ(j["layers"].size(), j["profile"]["layers"].size());
  }
  // The dashboard's report renders such a run.
  auto [rc, out] = cli("report --run " + s.run("r-olmoe") + " -o " + s.run("report.html"));
  EXPECT_EQ(rc, 0) << out;
}

TEST(ScopeModelCli, TwoCorporaGiveSharesAndSpecialisation) {
  moescope::testing::ScratchRun s("scope-model-two");
  const std::string other = s.run("digits.txt");
  {
    std::ofstream f(other);
    for (int i = 0; i < 400; ++i) f << i * 7919 % 10007 << (i % 10 == 9 ? "\n" : " ");
  }
  const std::string run = s.run("two");
  auto [rc, out] = cli("scope --model " + fixture("olmoe") + " --data " + s.corpus() + " --data " + other + " --out " +
                       run + " --device cpu --batch 4 --seq-len 32 --cache-dir " + s.cache());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("routing over 2 corpora"), std::string::npos) << out;
  EXPECT_NE(out.find("most specialised experts"), std::string::npos) << out;
  const auto p = nlohmann::json::parse(moescope::read_file(run + "/routing_profile.json"));
  ASSERT_EQ(p["corpora"].size(), 2u);
  for (const auto& l : p["layers"]) {
    ASSERT_EQ(l["corpus_share"].size(), 2u);
    for (const auto& row : l["corpus_share"]) {
      double sum = 0;
      for (const auto& v : row) sum += v.get<double>();
      EXPECT_NEAR(sum, 1.0, 1e-9);
    }
  }
}

// --weights mapped (train/hf_model_dir.h HfWeights): the weights stay in the mapped file; the run
// is written as with the fp32 copy.
TEST(ScopeModelCli, MappedWeights) {
  moescope::testing::ScratchRun s("scope-model-mapped");
  const std::string run = s.run("mapped");
  auto [rc, out] = cli("scope --model " + fixture("olmoe") + " --data " + s.corpus() + " --out " + run +
                       " --device cpu --batch 4 --seq-len 32 --weights mapped --cache-dir " + s.cache());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("memory-mapped in place"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(run + "/routing_profile.json"));
}

TEST(ScopeModelCli, BadInputGetsAClearError) {
  moescope::testing::ScratchRun s("scope-model-bad");
  const std::string olmoe = fixture("olmoe");
  auto expect_error = [](const std::string& args, const std::string& what) {
    auto [rc, out] = cli(args);
    EXPECT_NE(rc, 0) << args << "\n" << out;
    EXPECT_NE(out.find(what), std::string::npos) << args << "\n" << out;
    EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
  };
  // Missing data file, empty corpus, no --data / --out.
  expect_error("scope --model " + olmoe + " --data " + s.run("nope.txt") + " --out " + s.run("a") + " --device cpu",
               "nope.txt");
  const std::string empty = s.run("empty.txt");
  std::ofstream(empty).close();
  expect_error("scope --model " + olmoe + " --data " + empty + " --out " + s.run("b") + " --device cpu", "empty");
  expect_error("scope --model " + olmoe + " --out " + s.run("c") + " --device cpu", "needs --data");
  expect_error("scope --model " + olmoe + " --data " + s.corpus() + " --device cpu", "needs --out");
  // Model directory errors: missing, and a broken config.json.
  expect_error("scope --model " + s.run("no-model") + " --data " + s.corpus() + " --out " + s.run("d"), "no-model");
  expect_error("scope --model " + s.run("no-model") + " --data " + s.corpus() + " --out " + s.run("d"),
               "no such directory");
  const std::string broken = s.run("broken");
  fs::copy(olmoe, broken);
  moescope::write_file_atomic(broken + "/config.json", "{\"model_type\": \"olmoe\", \"hidden_size\": ");
  expect_error("scope --model " + broken + " --data " + s.corpus() + " --out " + s.run("e") + " --device cpu",
               "config.json");
  // A too-long window, an existing run, --data with --run.
  expect_error(
      "scope --model " + olmoe + " --data " + s.corpus() + " --out " + s.run("f") + " --device cpu --seq-len 100000",
      "max_seq_len");
  {  // The window is checked before the corpus is tokenised (cheap errors first).
    auto [rc, out] = cli("scope --model " + olmoe + " --data " + s.corpus() + " --out " + s.run("f2") +
                         " --device cpu --seq-len 100000 --cache-dir " + s.run("fresh-cache"));
    EXPECT_NE(rc, 0) << out;
    EXPECT_EQ(out.find("tokenised"), std::string::npos) << out;
  }
  expect_error("scope --run " + s.run("f") + " --data " + s.corpus(), "--model");
  auto [rc, out] = cli("scope --model " + olmoe + " --data " + s.corpus() + " --out " + s.run("g") +
                       " --device cpu --seq-len 16 --cache-dir " + s.cache());
  ASSERT_EQ(rc, 0) << out;
  expect_error("scope --model " + olmoe + " --data " + s.corpus() + " --out " + s.run("g") + " --device cpu",
               "already holds a run");
}
