// compress_cli_test.cpp: end to end through the binary: train the tiny preset, compress it with
// both solvers, then eval, generate and scope on the compressed run; bad inputs exit non-zero
// with a message naming the problem.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/jsonl.h"
#include "../train/train_test_util.h"

using namespace moescope;
using moescope::testing::cli;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {
nlohmann::json last_json_line(const std::string& out) {
  auto pos = out.rfind('{');
  while (pos != std::string::npos && pos > 0 && out[pos - 1] != '\n') pos = out.rfind('{', pos - 1);
  return nlohmann::json::parse(out.substr(pos));
}
// A tiny run trained `steps` steps into s.run("src"); its directory.
std::string train_tiny(ScratchRun& s, int steps) {
  const std::string run = s.run("src");
  auto [code, out] =
      cli("train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() +
          " --out " + run + " --set data.cache_dir=" + s.cache() + " --set train.max_steps=" + std::to_string(steps));
  EXPECT_EQ(code, 0) << out;
  return run;
}
}  // namespace

TEST(CompressCli, TrainCompressEvalGenerateScope) {
  ScratchRun s("compress");
  const std::string run = train_tiny(s, 20);
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto [ec, eo] = cli("eval --run " + run, false);
  ASSERT_EQ(ec, 0) << eo;
  const double base = last_json_line(eo)["val_loss"].get<double>();

  for (const char* solver : {"altmin", "gradient"}) {
    const std::string dst = s.run(std::string("c-") + solver);
    auto [cc, co] = cli("compress --run " + run + " --out " + dst + " --solver " + solver +
                        " --rank-ratio 1 --basis-ratio 1 --max-iters 30");
    ASSERT_EQ(cc, 0) << co;
    EXPECT_NE(co.find("routed-expert params"), std::string::npos) << co;  // the budget, before solving
    auto summary = last_json_line(co);
    EXPECT_EQ(summary["type"], "compress_summary");
    EXPECT_EQ(summary["solver"], solver);
    for (const char* f : {"config.json", "tokenizer.json", "model.safetensors", "compressed.json", "metrics.jsonl"})
      EXPECT_TRUE(fs::exists(fs::path(dst) / f)) << f;
    auto log = read_jsonl(dst + "/metrics.jsonl");
    ASSERT_TRUE(log.warnings.empty());
    int iters = 0;
    for (auto& r : log.records) {
      EXPECT_EQ(r["schema"], 1);
      if (r["type"] != "compress") continue;
      ++iters;
      EXPECT_EQ(r["solver"], solver);
      ASSERT_EQ(r["groups"].size(), 2u);
      EXPECT_EQ(r["groups"][0]["group"], "layer1.gate");
      EXPECT_EQ(r["groups"][0]["layer"], 1);
      for (const char* k : {"rel_error", "mse", "support_median", "support_mean", "support_p95", "alpha_entropy",
                            "coherence", "cond", "nonfinite"})
        EXPECT_TRUE(r["groups"][1].contains(k)) << k;
    }
    EXPECT_GE(iters, 2);
    EXPECT_EQ(log.records.back()["type"], "compress_summary");

    auto [e2, o2] = cli("eval --run " + dst, false);
    ASSERT_EQ(e2, 0) << o2;
    const double loss = last_json_line(o2)["val_loss"].get<double>();
    EXPECT_TRUE(std::isfinite(loss));
    EXPECT_LT(loss, base * 1.5) << solver;  // full rank and bases: close to the source model
    auto [g2, go] = cli("generate --run " + dst + " --prompt the --tokens 8 --json", false);
    ASSERT_EQ(g2, 0) << go;
    EXPECT_EQ(last_json_line(go)["new_tokens"], 8);
    auto [s2, so] = cli("scope --run " + dst);
    ASSERT_EQ(s2, 0) << so;
    EXPECT_NE(so.find("layer1.gate"), std::string::npos) << so;
  }
  // Bad inputs.
  auto [b1, bo1] = cli("compress --run " + run + " --out " + s.run("bad") + " --rank-ratio 1.5");
  EXPECT_NE(b1, 0);
  EXPECT_NE(bo1.find("compress.rank_ratio"), std::string::npos) << bo1;
  auto [b2, bo2] = cli("compress --run " + s.run("c-altmin") + " --out " + s.run("bad2"));
  EXPECT_NE(b2, 0);
  EXPECT_NE(bo2.find("already a compressed run"), std::string::npos) << bo2;
  auto [b3, bo3] = cli("compress --run " + run + " --out " + s.run("c-altmin"));
  EXPECT_NE(b3, 0);
  EXPECT_NE(bo3.find("already holds a run"), std::string::npos) << bo3;
}

TEST(CompressCli, WeightByRoutingRun) {
  ScratchRun s("compress-w");
  const std::string run = train_tiny(s, 10);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // The calibration run: the model's routing over a corpus.
  const std::string routing = s.run("routing");
  auto [sc, so] =
      cli("scope --model " + run + " --data " + s.corpus() + " --out " + routing + " --cache-dir " + s.cache());
  ASSERT_EQ(sc, 0) << so;
  const std::string dst = s.run("c-weighted");
  auto [cc, co] = cli("compress --run " + run + " --out " + dst + " --weight-by " + routing +
                      " --weight-floor 0.2 --rank-ratio 0.5 --basis-ratio 0.5 --max-iters 5");
  ASSERT_EQ(cc, 0) << co;
  auto summary = last_json_line(co);
  EXPECT_EQ(summary["weighted_by"], routing);
  EXPECT_DOUBLE_EQ(summary["weight_floor"].get<double>(), 0.2);
  for (auto& g : summary["groups"]) EXPECT_TRUE(g.contains("weighted_rel_error")) << g;
  auto [ec, eo] = cli("eval --run " + dst, false);
  ASSERT_EQ(ec, 0) << eo;
  EXPECT_TRUE(std::isfinite(last_json_line(eo)["val_loss"].get<double>()));
  // A run without a routing profile (the training run itself) is refused before anything is written.
  const std::string bad = s.run("c-bad");
  auto [bc, bo] = cli("compress --run " + run + " --out " + bad + " --weight-by " + run);
  EXPECT_NE(bc, 0);
  EXPECT_NE(bo.find("routing_profile.json"), std::string::npos) << bo;
  EXPECT_FALSE(fs::exists(bad));
}

// `compress --model`: a Hugging Face directory compressed, then eval, generate and scope on the
// output model directory; the dry run; a run given to --model and a model directory to --run.
TEST(CompressCli, ModelDirectory) {
  ScratchRun s("compress-model");
  const std::string src = moescope::testing::source_path("tests/fixtures/hf/olmoe");
  const std::string out = s.run("olmoe-c");
  auto [dc, dout] = cli("compress --model " + src + " --rank 4 --n-bases 3 --dry-run", false);
  ASSERT_EQ(dc, 0) << dout;
  EXPECT_EQ(last_json_line(dout)["banks"].size(), 4u);
  auto [cc, co] =
      cli("compress --model " + src + " --out " + out + " --rank 4 --n-bases 3 --max-iters 2 --activation silu", false);
  ASSERT_EQ(cc, 0) << co;
  const auto j = last_json_line(co);
  EXPECT_GT(j["peak_rss_bytes"].get<double>(), 0.0);
  EXPECT_GT(j["disk_bytes_after"].get<double>(), 0.0);
  EXPECT_EQ(j["groups"].size(), 4u);
  auto [ec, eo] = cli("eval --model " + out + " --data " + s.corpus() + " --device cpu --max-batches 2", false);
  ASSERT_EQ(ec, 0) << eo;
  EXPECT_GT(nlohmann::json::parse(eo)["val_loss"].get<double>(), 0.0);
  auto [gc, go] =
      cli("generate --model " + out + " --prompt 'The theory' --tokens 4 --temperature 0 --json --device cpu", false);
  ASSERT_EQ(gc, 0) << go;
  EXPECT_EQ(nlohmann::json::parse(go)["new_tokens"], 4);
  auto [sc, so] = cli("scope --model " + out + " --data " + s.corpus() + " --out " + s.run("scoped") +
                      " --device cpu --batch 4 --seq-len 32 --log-every 20 --cache-dir " + s.cache());
  ASSERT_EQ(sc, 0) << so;
  // Routing-aware on a model directory: the source's routing over the corpus weights the banks.
  const std::string routing = s.run("routing");
  auto [rc, ro] = cli("scope --model " + src + " --data " + s.corpus() + " --out " + routing +
                      " --device cpu --batch 4 --seq-len 32 --cache-dir " + s.cache());
  ASSERT_EQ(rc, 0) << ro;
  auto [wc, wo] = cli("compress --model " + src + " --out " + s.run("olmoe-w") + " --weight-by " + routing +
                          " --weight-floor 0 --rank 4 --n-bases 3 --max-iters 2",
                      false);
  ASSERT_EQ(wc, 0) << wo;
  EXPECT_EQ(last_json_line(wo)["weighted_by"], routing);
  auto [we, weo] =
      cli("eval --model " + s.run("olmoe-w") + " --data " + s.corpus() + " --device cpu --max-batches 2", false);
  ASSERT_EQ(we, 0) << weo;
  // Bad inputs.
  auto [b1, bo1] = cli("compress --run " + src + " --out " + s.run("bad"));
  EXPECT_NE(b1, 0);
  EXPECT_NE(bo1.find("compress it with --model"), std::string::npos) << bo1;
  auto [b2, bo2] = cli("compress --model " + out + " --out " + s.run("bad2"));
  EXPECT_NE(b2, 0);
  EXPECT_NE(bo2.find("already compressed"), std::string::npos) << bo2;
  auto [b3, bo3] = cli("compress --out " + s.run("bad3"));
  EXPECT_NE(b3, 0);
  EXPECT_NE(bo3.find("--run RUN_DIR or --model HF_DIR"), std::string::npos) << bo3;
}
