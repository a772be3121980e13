// microscope_test.cpp: a real (tiny) training run through the CLI, checked from its logs.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "io/jsonl.h"
#include "io/tfevents.h"
#include "../train/train_test_util.h"

using namespace moescope;
using moescope::testing::cli;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

TEST(Microscope, LogsRoutingMetricsTensorBoardAndHealthTable) {
  ScratchRun s("scope");
  const std::string run = s.run("r");
  auto [code, out] =
      cli("train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() +
          " --out " + run + " --set data.cache_dir=" + s.cache() +
          " --set train.max_steps=8 --set train.log_every=2 --set scope.coact_every=2 --set train.eval_every=4");
  ASSERT_EQ(code, 0) << out;
  auto log = read_jsonl(run + "/metrics.jsonl");
  ASSERT_TRUE(log.warnings.empty());
  int train_records = 0, with_coact = 0, with_sat = 0, evals = 0;
  for (auto& r : log.records) {
    EXPECT_EQ(r["schema"], 1);
    if (r["type"] == "eval") {
      ++evals;
      ASSERT_TRUE(r.contains("moe"));
      // The validation scope's metrics, recomputed from its logged load (docs/metrics.md).
      const auto& e = r["moe"][0];
      const auto load = e["load"].get<std::vector<double>>();
      ASSERT_EQ(load.size(), 4u);  // tiny: 4 routed experts
      double sum = 0, h = 0;
      for (double p : load) sum += p, h -= p > 0 ? p * std::log(p) : 0.0;
      EXPECT_NEAR(sum, 1.0, 1e-9);
      const double mean = 1.0 / 4;
      EXPECT_NEAR(e["maxvio_global"].get<double>(), (*std::max_element(load.begin(), load.end()) - mean) / mean, 1e-9);
      EXPECT_NEAR(e["entropy_norm"].get<double>(), h / std::log(4.0), 1e-6);
      EXPECT_NEAR(e["n_eff"].get<double>(), std::exp(h), 1e-5);
      continue;
    }
    if (r["type"] != "train") continue;
    ++train_records;
    ASSERT_EQ(r["moe"].size(), 1u);  // tiny: one MoE layer (layer 1)
    auto& l = r["moe"][0];
    EXPECT_EQ(l["layer"], 1);
    // Counts are the real top-k slots: K * tokens of the interval (2 steps x 4 x 32 tokens x top-2).
    int64_t total = 0;
    for (auto& c : l["counts"]) total += c.get<int64_t>();
    EXPECT_EQ(total, 2 * 4 * 32 * 2);
    for (const char* k : {"load",
                          "entropy_norm",
                          "n_eff",
                          "cv",
                          "min_max_ratio",
                          "maxvio_batch",
                          "dead",
                          "router_entropy",
                          "top1_score",
                          "logit_rms",
                          "logit_max",
                          "drop_rate",
                          "bias",
                          "bias_std",
                          "bias_intervention",
                          "balance_loss",
                          "z_loss",
                          "router_grad_norm",
                          "expert_grad_norm",
                          "status",
                          "starved",
                          "max_token_share",
                          "tokens_per_expert",
                          "bias_lo",
                          "bias_hi"})
      EXPECT_TRUE(l.contains(k)) << k;
    // The load metrics, recomputed here from the logged counts c_i by docs/metrics.md's
    // definitions (tiny: E = 4, K = 2; C = the interval's slots).
    {
      const auto c = l["counts"].get<std::vector<int64_t>>();
      const double E = 4, K = 2, C = double(total);
      ASSERT_EQ(c.size(), 4u);
      std::vector<double> p;
      double h = 0, var = 0;
      for (int64_t ci : c) p.push_back(ci / C);
      for (double pi : p) h -= pi > 0 ? pi * std::log(pi) : 0.0, var += (pi - 1 / E) * (pi - 1 / E) / E;
      const auto load = l["load"].get<std::vector<double>>();
      for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(load[i], p[i], 1e-12) << i;
      EXPECT_NEAR(l["entropy_norm"].get<double>(), h / std::log(E), 1e-6);
      EXPECT_NEAR(l["n_eff"].get<double>(), std::exp(h), 1e-5);
      EXPECT_NEAR(l["cv"].get<double>(), std::sqrt(var) * E, 1e-9);
      const double cmax = double(*std::max_element(c.begin(), c.end()));
      const double cmin = double(*std::min_element(c.begin(), c.end()));
      EXPECT_NEAR(l["min_max_ratio"].get<double>(), cmin / cmax, 1e-12);
      EXPECT_NEAR(l["max_token_share"].get<double>(), cmax / (C / K), 1e-12);
      // MaxVio of the interval's summed counts is a lower bound of the mean of the per-step
      // MaxVio (every step has the same number of slots, and max is subadditive).
      EXPECT_GE(l["maxvio_batch"].get<double>(), (cmax - C / E) / (C / E) - 1e-9);
      std::vector<int64_t> dead, starved;
      for (int64_t i = 0; i < 4; ++i) {
        if (c[i] == 0) dead.push_back(i);
        if (p[i] < 0.2 / E) starved.push_back(i);  // judged: C / E = 256 slots per expert >= 10
      }
      EXPECT_EQ(l["dead"].get<std::vector<int64_t>>(), dead);
      EXPECT_EQ(l["starved"].get<std::vector<int64_t>>(), starved);
    }
    // The bias is the interval's mean, inside its per-expert range.
    for (size_t e = 0; e < l["bias"].size(); ++e) {
      EXPECT_LE(l["bias_lo"][e].get<double>(), l["bias"][e].get<double>() + 1e-12);
      EXPECT_GE(l["bias_hi"][e].get<double>(), l["bias"][e].get<double>() - 1e-12);
    }
    // Tokens per expert: the spread of this interval's counts; across layers = the one layer.
    const auto& tpe = l["tokens_per_expert"];
    auto counts = l["counts"].get<std::vector<int64_t>>();
    EXPECT_EQ(tpe["max"].get<double>(), double(*std::max_element(counts.begin(), counts.end())));
    EXPECT_EQ(tpe["min"].get<double>(), double(*std::min_element(counts.begin(), counts.end())));
    ASSERT_TRUE(r.contains("moe_summary"));
    EXPECT_EQ(r["moe_summary"]["tokens_per_expert"], tpe);
    EXPECT_EQ(r["moe_summary"]["maxvio_batch_max"], l["maxvio_batch"]);
    EXPECT_EQ(l["expert_grad_norm"].size(), 4u);
    EXPECT_GT(l["router_grad_norm"].get<double>(), 0.0);
    with_coact += l.contains("coactivation");
    with_sat += r.contains("saturation");
  }
  EXPECT_EQ(train_records, 4);
  EXPECT_EQ(evals, 2);
  EXPECT_EQ(with_coact, 2);  // intervals 0 and 2
  EXPECT_EQ(with_sat, 2);
  // TensorBoard: framing and CRCs verified by the reader; a scalar decodes.
  std::string tb;
  for (auto& e : fs::directory_iterator(run + "/tb")) tb = e.path().string();
  ASSERT_FALSE(tb.empty());
  auto recs = read_tfrecords(tb);
  std::set<std::string> tags;
  for (auto& r : recs)
    if (auto sc = decode_scalar_event(r)) tags.insert(sc->tag);
  EXPECT_TRUE(tags.count("train/loss"));
  EXPECT_TRUE(tags.count("moe/layer1/entropy_norm"));
  EXPECT_TRUE(tags.count("moe/layer1/status_level"));  // the status by severity (docs/metrics.md)
  // The health table.
  auto [c2, table] = cli("scope --run " + run);
  EXPECT_EQ(c2, 0) << table;
  EXPECT_NE(table.find("step 8"), std::string::npos) << table;
  EXPECT_NE(table.find("entropy"), std::string::npos);
  auto [c3, t4] = cli("scope --run " + run + " --step 5");
  EXPECT_NE(t4.find("step 4"), std::string::npos) << t4;
}

TEST(Microscope, ResumedLogHasNoDuplicateSteps) {
  ScratchRun s("scope-resume");
  const std::string run = s.run("r");
  const std::string base = "train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " +
                           s.corpus() + " --out " + run + " --set data.cache_dir=" + s.cache() +
                           " --set train.log_every=1 --set train.ckpt_every=3 --set train.eval_every=100";
  ASSERT_EQ(cli(base + " --set train.max_steps=5").first, 0);  // records for steps 1..5, checkpoint at 5
  {  // as if the run had gone on to log steps 6 and 7, then been killed before its next checkpoint
    JsonlWriter w(run + "/metrics.jsonl", true);
    w.write({{"schema", 1}, {"type", "train"}, {"step", 6}, {"loss", 9.9}});
    w.write({{"schema", 1}, {"type", "train"}, {"step", 7}, {"loss", 9.9}});
  }
  ASSERT_EQ(cli("train --out " + run + " --resume --set train.max_steps=8").first, 0);
  std::map<int64_t, int> seen;
  for (auto& r : read_jsonl(run + "/metrics.jsonl").records)
    if (r["type"] == "train") ++seen[r["step"].get<int64_t>()];
  ASSERT_EQ(seen.size(), 8u);
  for (auto& [step, n] : seen) EXPECT_EQ(n, 1) << "step " << step;
  for (auto& r : read_jsonl(run + "/metrics.jsonl").records)
    if (r["type"] == "train") {
      EXPECT_NE(r["loss"], 9.9);  // the stale records were dropped
    }
}

// Issue 13: a mis-typed field in the log ("step": "forty") stopped a resume with a bare
// json.exception.type_error.302; the error now names the file, line, field and type.
TEST(Microscope, ResumeNamesAMisTypedLogRecord) {
  ScratchRun s("scope-bad-record");
  const std::string run = s.run("r");
  ASSERT_EQ(
      cli("train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() +
          " --out " + run + " --set data.cache_dir=" + s.cache() +
          " --set train.log_every=1 --set train.ckpt_every=3 --set train.eval_every=100" + " --set train.max_steps=3")
          .first,
      0);
  size_t lines = 0;
  {
    std::ifstream f(run + "/metrics.jsonl");
    for (std::string l; std::getline(f, l);) ++lines;
  }
  {
    JsonlWriter(run + "/metrics.jsonl", true)
        .write({{"schema", 1}, {"type", "train"}, {"step", "forty"}, {"moe", nlohmann::json::array()}});
  }
  auto [code, out] = cli("train --out " + run + " --resume --set train.max_steps=4");
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find(run + "/metrics.jsonl:" + std::to_string(lines + 1) +
                     ": field 'step' must be an integer, got string \"forty\""),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("json.exception"), std::string::npos) << out;
}

// The remediation ladder survives a resume: 12 steps straight vs 6 + resume + 6 give the same
// remediation actions, alerts and routing (bias vectors, losses). Without the replay of the
// run log, the resumed run restarts the ladder at rung 1 with the preset's router knobs.
// entropy_floor 1.0 makes low_entropy hold every interval (collapsed with W=1), so the ladder
// acts every `cooldown` intervals; lr is constant so stopping at 6 changes no schedule.
TEST(Microscope, RemediationLadderContinuesAcrossResume) {
  ScratchRun s("scope-remediate");
  const std::string base = "train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " +
                           s.corpus() + " --set data.cache_dir=" + s.cache() +
                           " --set train.log_every=1 --set train.ckpt_every=3 --set train.eval_every=100"
                           " --set train.warmup_steps=0 --set train.min_lr_ratio=1 --set moe.bias_balance=false"
                           " --set scope.remediate=true --set scope.entropy_floor=1 --set scope.window=1"
                           " --set scope.cooldown=2 --set train.router_lr_mult=16";
  const std::string a = s.run("a"), b = s.run("b");
  ASSERT_EQ(cli(base + " --out " + a + " --set train.max_steps=12").first, 0);
  ASSERT_EQ(cli(base + " --out " + b + " --set train.max_steps=10").first, 0);
  auto [code, out] = cli("train --out " + b + " --resume --set train.max_steps=12");
  ASSERT_EQ(code, 0) << out;

  auto actions = [](const std::string& run) {
    std::vector<std::string> v;
    for (auto& r : read_jsonl(run + "/metrics.jsonl").records)
      if (r["type"] == "remediation")
        v.push_back(std::to_string(r["step"].get<int64_t>()) + ":" + r["action"].get<std::string>() + ":" +
                    r["to"].dump());
    return v;
  };
  auto va = actions(a), vb = actions(b);
  // Steps 1 bias_rate, 3 jitter, 5 seq_aux_loss, 7 z_loss, 9 router_lr (16 -> 4), 11 bias_rate
  // (reinit is skipped: no dead experts). The resume at step 10 must bring every knob back,
  // the cooled router lr (an optimizer setting) too.
  ASSERT_GE(va.size(), 6u);
  EXPECT_NE(std::find(va.begin(), va.end(), "9:router_lr:4.0"), va.end()) << ::testing::PrintToString(va);
  EXPECT_EQ(va, vb);
  auto alerts = [](const std::string& run) {
    std::vector<std::string> v;
    for (auto& r : read_jsonl(run + "/alerts.jsonl").records)
      v.push_back(std::to_string(r["step"].get<int64_t>()) + ":" + r["rule"].get<std::string>());
    return v;
  };
  EXPECT_EQ(alerts(a), alerts(b));  // no alert re-fired after the resume
  auto train = [](const std::string& run) {
    std::map<int64_t, nlohmann::json> m;
    for (auto& r : read_jsonl(run + "/metrics.jsonl").records)
      if (r["type"] == "train") m[r["step"].get<int64_t>()] = r;
    return m;
  };
  auto ta = train(a), tb = train(b);
  ASSERT_EQ(ta.size(), 12u);
  ASSERT_EQ(tb.size(), 12u);
  for (int64_t step = 11; step <= 12; ++step) {
    EXPECT_NEAR(ta[step]["loss"].get<double>(), tb[step]["loss"].get<double>(), 1e-6) << step;
    auto ba = ta[step]["moe"][0]["bias"].get<std::vector<double>>(),
         bb = tb[step]["moe"][0]["bias"].get<std::vector<double>>();
    for (size_t e = 0; e < ba.size(); ++e) EXPECT_NEAR(ba[e], bb[e], 1e-7) << "step " << step << " expert " << e;
    EXPECT_EQ(ta[step]["moe"][0]["counts"], tb[step]["moe"][0]["counts"]) << step;
  }
}
