// routing_log_test.cpp: the log interval as every front end writes it (routing/routing_log.h):
// records, the summary, the detector's status and alerts.jsonl, from plain counts.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/jsonl.h"
#include "routing/routing_log.h"
#include "run/run_dir.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {
LayerInterval interval_of(const std::vector<int64_t>& counts, int64_t K) {
  LayerInterval a(static_cast<int64_t>(counts.size()));
  ForwardRouting f;
  f.counts = f.kept = counts;
  f.top_k = K;
  int64_t slots = 0;
  for (auto c : counts) slots += c;
  f.totals.tokens = slots / K;
  f.totals.assign = slots;
  f.totals.forwards = 1;
  a.observe(f, false);
  a.end_step(nullptr);
  return a;
}
}  // namespace

TEST(RoutingLog, CollapsedLayerIsCalledCollapsedAndTheAlertIsWritten) {
  const fs::path dir = fs::temp_directory_path() / ("routing_log_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ScopeConfig cfg;
  cfg.tensorboard = false;
  RoutingLog log({{0, 4, 1}, {2, 4, 1}}, cfg, dir.string(), true);
  for (int i = 1; i <= 3; ++i) {
    nlohmann::json rec;
    auto out = log.log(10 * i, {interval_of({25, 25, 26, 24}, 1), interval_of({97, 1, 1, 1}, 1)}, {}, false, rec);
    ASSERT_EQ(rec["moe"].size(), 2u);
    EXPECT_EQ(rec["moe"][1]["layer"], 2);
    EXPECT_EQ(rec["moe"][0]["status"], "ok");
    EXPECT_DOUBLE_EQ(rec["moe"][1]["max_token_share"].get<double>(), 0.97);
    EXPECT_TRUE(out[0].alerts.empty());
    if (i == 3) {
      EXPECT_EQ(rec["moe"][1]["status"], "collapsed");
    }
    EXPECT_TRUE(rec["moe_summary"].contains("maxvio_batch_max"));
  }
  EXPECT_TRUE(log.detector().collapsed(2));
  auto alerts = read_jsonl(alerts_path(dir.string())).records;
  ASSERT_FALSE(alerts.empty());
  for (auto& a : alerts) EXPECT_EQ(a["layer"], 2);
  EXPECT_EQ(alerts[0]["severity"], "critical");
  fs::remove_all(dir);
}

TEST(RoutingLog, RejectsImpossibleLayers) {
  EXPECT_THROW(RoutingLog({{0, 4, 5}}, ScopeConfig{}, "", false), std::invalid_argument);
}
