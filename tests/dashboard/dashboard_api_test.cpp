// dashboard_api_test.cpp: the JSON API over a catalog of runs: layout, downsampled series,
// heatmaps, health table, events, and 4xx errors for bad parameters and unknown runs,
// including path-traversal attempts and symlinks out of the log directory.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "dashboard/dashboard_api.h"
#include "run/health.h"
#include "io/io_test_util.h"
#include "synthetic_log.h"

namespace moescope::dashboard {
namespace {

class DashboardApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    moescope::testing::SyntheticLogSpec spec;
    spec.records = 3000;
    spec.layers = 4;
    spec.experts = 16;
    spec.coactivation_every = 1000;
    spec.eval_every = 500;
    spec.alert_every = 700;
    moescope::testing::write_synthetic_run(tmp.path() + "/a", spec);
    spec.records = 5;
    moescope::testing::write_synthetic_run(tmp.path() + "/sweep/b", spec);
    catalog = std::make_unique<RunCatalog>(tmp.path());
    bool more = true;
    while (more) catalog->update_all(&more);
    api = std::make_unique<DashboardApi>(*catalog);
  }
  int status_of(const std::string& path, const Params& p) {
    try {
      api->handle(path, p);
    } catch (const ApiError& e) {
      return e.status;
    }
    return 200;
  }
  moescope::testing::TempDir tmp;
  std::unique_ptr<RunCatalog> catalog;
  std::unique_ptr<DashboardApi> api;
};

}  // namespace

TEST_F(DashboardApiTest, ListsRunsAndLayout) {
  const auto runs = api->handle("/api/runs", {});
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0]["id"], "a");
  EXPECT_EQ(runs[1]["id"], "sweep/b");
  EXPECT_EQ(runs[0]["last_step"], 3000);
  const auto meta = api->handle("/api/run", {{"run", "a"}});
  EXPECT_EQ(meta["layers"], (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(meta["experts"], 16);
  EXPECT_EQ(meta["tables"]["train"]["rows"], 3000);
  EXPECT_EQ(meta["tables"]["eval"]["rows"], 6);
  EXPECT_EQ(meta["coactivation_records"], 3);
  EXPECT_EQ(meta["alerts"], 4);
}

TEST_F(DashboardApiTest, SeriesAreDownsampled) {
  const auto s = api->handle("/api/series", {{"run", "a"}, {"field", "entropy_norm"}, {"points", "500"}});
  EXPECT_EQ(s["rows"], 3000);
  EXPECT_LE(s["x"].size(), 500u);
  ASSERT_EQ(s["series"].size(), 4u);
  EXPECT_EQ(s["series"][0]["values"].size(), s["x"].size());
  const auto one = api->handle("/api/series", {{"run", "a"}, {"field", "loss"}, {"from", "100"}, {"to", "199"}});
  EXPECT_EQ(one["x"].size(), 100u);
  EXPECT_EQ(one["x"][0], 100);
  const auto layer = api->handle("/api/series", {{"run", "a"}, {"field", "entropy_norm"}, {"entity", "3"}});
  ASSERT_EQ(layer["series"].size(), 1u);
  EXPECT_EQ(layer["series"][0]["entity"], "3");
}

TEST_F(DashboardApiTest, HeatmapsAtAStep) {
  const auto h = api->handle("/api/heatmap",
                             {{"run", "a"}, {"field", "load"}, {"step", "1234"}});  // steps are digits only (issue 13)
  EXPECT_EQ(h["step"], 1234);
  ASSERT_EQ(h["values"].size(), 4u);
  EXPECT_EQ(h["values"][0].size(), 16u);
  double total = 0;
  for (double v : h["values"][0]) total += v;
  EXPECT_NEAR(total, 1.0, 1e-4);
  const auto dead = api->handle("/api/heatmap", {{"run", "a"}, {"field", "dead"}});
  EXPECT_EQ(dead["step"], 3000);
  EXPECT_EQ(dead["values"][0][15], 0);
  const auto co =
      api->handle("/api/heatmap", {{"run", "a"}, {"field", "coactivation"}, {"layer", "2"}, {"step", "2500"}});
  EXPECT_EQ(co["step"], 2000);
  EXPECT_EQ(co["layer"], 2);
  EXPECT_EQ(co["values"].size(), 16u);
  EXPECT_EQ(status_of("/api/heatmap", {{"run", "a"}, {"field", "coactivation"}, {"step", "10"}}), 404);
}

// metrics.jsonl rewritten in place under a running dashboard (issue 31: /api/heatmap answered
// 503 on every retry): the first request says 503 and asks for a re-index; after the poller's
// next update the retry is served from the new file.
TEST_F(DashboardApiTest, RewrittenLogIsReindexedAfterOne503) {
  const std::string log = tmp.path() + "/a/metrics.jsonl";
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 3000;
  spec.layers = 4;
  spec.experts = 16;
  spec.seed = 7;
  spec.first_step = 5;  // other steps, other line lengths
  const std::string dir2 = tmp.path() + "/other";
  moescope::testing::write_synthetic_run(dir2, spec);
  {
    std::ifstream in(dir2 + "/metrics.jsonl", std::ios::binary);
    std::ofstream out(log, std::ios::binary | std::ios::in | std::ios::out);  // same inode
    out << in.rdbuf();
  }
  const Params p{{"run", "a"}, {"field", "load"}, {"step", "1234"}};
  try {
    api->handle("/api/heatmap", p);
    ADD_FAILURE() << "served a record from the old index";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_NE(std::string(e.what()).find("re-indexing"), std::string::npos) << e.what();
  }
  bool more = true;
  while (more) catalog->update_all(&more);
  const auto h = api->handle("/api/heatmap", p);
  EXPECT_EQ(h["step"], 1234);  // steps 5, 6, ...: 1234 is there
  EXPECT_EQ(h["values"].size(), 4u);
  EXPECT_EQ(api->handle("/api/health", {{"run", "a"}, {"step", "1600"}})["step"], 1600);
}

TEST_F(DashboardApiTest, HealthAndEvents) {
  const auto h = api->handle("/api/health", {{"run", "a"}, {"step", "1600"}});
  EXPECT_EQ(h["step"], 1600);
  ASSERT_EQ(h["layers"].size(), 4u);
  EXPECT_EQ(h["layers"][1]["layer"], 2);
  EXPECT_NEAR(h["layers"][1]["maxvio_global"].get<double>(), 0.2, 1e-6);  // the eval at step 1500
  EXPECT_EQ(h["layers"][0]["status"], "ok");
  const auto ev = api->handle("/api/events", {{"run", "a"}});
  EXPECT_EQ(ev["alerts"].size(), 4u);
  EXPECT_EQ(ev["alerts"][0]["step"], 700);
}

TEST_F(DashboardApiTest, BadRequestsAre4xx) {
  EXPECT_EQ(status_of("/api/series", {{"run", "a"}}), 400);
  EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", "1e9"}}), 400);
  EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", "12abc"}}), 400);
  EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"table", "x"}}), 400);
  EXPECT_EQ(status_of("/api/heatmap", {{"run", "a"}, {"field", "secrets"}}), 400);
  EXPECT_EQ(status_of("/api/health", {{"run", "a"}, {"step", "nan"}}), 400);
  EXPECT_EQ(status_of("/api/run", {}), 400);
  EXPECT_EQ(status_of("/api/run", {{"run", "../a"}}), 404);
  EXPECT_EQ(status_of("/api/run", {{"run", "/etc"}}), 404);
  EXPECT_EQ(status_of("/api/run", {{"run", "sweep/../a"}}), 404);
  EXPECT_EQ(status_of("/api/nope", {}), 404);
}

TEST_F(DashboardApiTest, RoutingProfileOf_ScopeModelRuns) {
  // A training run has none: 404. A valid file is served (trimmed to what the page uses); a
  // file of another version or with a wrongly typed field is a 422 naming the field.
  EXPECT_EQ(status_of("/api/profile", {{"run", "a"}}), 404);
  const nlohmann::json profile = {
      {"routing_profile_version", 1},
      {"model", "m"},
      {"corpora", {{{"name", "x.txt"}, {"tokens", 5}}, {{"name", "y.txt"}, {"tokens", 3}}}},
      {"tokens_per_expert", {{"p50", 1}}},
      {"layers",
       {{{"layer", 1},
         {"experts", 2},
         {"top_k", 1},
         {"counts", {6, 2}},
         {"corpus_counts", {{4, 1}, {2, 1}}},
         {"corpus_share", {{0.8, 0.2}, {0.6667, 0.3333}}},
         {"dead", nlohmann::json::array()},
         {"specialisation", {0.01, nullptr}},
         {"preferred_corpus", {0, 1}},
         {"top_tokens", {{{{"id", 3}, {"text", "a"}, {"count", 4}, {"share", 0.66}}}, nlohmann::json::array()}}}}},
      {"agreement", nlohmann::json::array()}};
  {
    std::ofstream f(tmp.path() + "/a/routing_profile.json");
    f << profile.dump();
  }
  const auto j = api->handle("/api/profile", {{"run", "a"}});
  EXPECT_EQ(j["corpora"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["top_tokens"][0][0]["text"], "a");
  EXPECT_FALSE(j["layers"][0].contains("corpus_counts"));
  auto bad = profile;
  bad["layers"][0]["top_tokens"] = "x";
  {
    std::ofstream f(tmp.path() + "/a/routing_profile.json");
    f << bad.dump();
  }
  try {
    api->handle("/api/profile", {{"run", "a"}});
    ADD_FAILURE() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 422);
    EXPECT_NE(std::string(e.what()).find("routing_profile.json: layers[].top_tokens is not an array"),
              std::string::npos)
        << e.what();
  }
}

TEST(DashboardApi, OddlyShapedRecordsDoNotBreakIt) {
  moescope::testing::TempDir tmp;
  std::filesystem::create_directories(tmp.path() + "/r");
  std::ofstream(tmp.path() + "/r/metrics.jsonl")
      << "{\"schema\":1,\"type\":\"train\",\"step\":1,\"moe\":5,\"saturation\":\"x\"}\n"
         "{\"schema\":1,\"type\":\"train\",\"step\":2,\"moe\":[7,{\"layer\":\"a\"},{\"layer\":1,\"load\":\"y\","
         "\"dead\":3}]}\n"
         "{\"schema\":1,\"type\":\"eval\",\"step\":2,\"maxvio_global\":1.5,\"moe\":{\"layer\":1}}\n";
  RunCatalog c(tmp.path());
  c.update_all();
  DashboardApi api(c);
  for (int step : {1, 2}) {
    const Params p{{"run", "r"}, {"step", std::to_string(step)}};
    EXPECT_NO_THROW(api.health(p));
    for (const char* f : {"load", "dead", "bias"}) {
      Params q = p;
      q["field"] = f;
      EXPECT_NO_THROW(api.heatmap(q)) << f;
    }
  }
  Params q{{"run", "r"}, {"field", "dead"}};
  EXPECT_EQ(api.heatmap(q)["values"][0].size(), 0u);  // no expert count known: no columns
  EXPECT_NO_THROW(api.run({{"run", "r"}}));
}

TEST_F(DashboardApiTest, ParametersAreStrictDigitsInRange) {
  auto message = [&](const std::string& path, const Params& p) -> std::string {
    try {
      api->handle(path, p);
    } catch (const ApiError& e) {
      return std::to_string(e.status) + " " + e.what();
    }
    return "200";
  };
  // Issue 13: "points=%205" (a leading space) was accepted.
  EXPECT_EQ(message("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", " 5"}}),
            "400 parameter 'points' must be an integer from 2 to 5000 (digits only), got ' 5'");
  for (const char* bad : {"5 ", "+5", "-3", "5e1", "0x10", "5.0", "", "99999999999999999999"})
    EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", bad}}), 400) << bad;
  EXPECT_EQ(message("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", "1"}}),
            "400 parameter 'points' must be an integer from 2 to 5000, got 1");
  EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"points", "50"}}), 200);
  for (const char* bad : {"1.5", "-1", "inf", "1e3", " 7"}) {
    EXPECT_EQ(status_of("/api/health", {{"run", "a"}, {"step", bad}}), 400) << bad;
    EXPECT_EQ(status_of("/api/series", {{"run", "a"}, {"field", "loss"}, {"from", bad}}), 400) << bad;
    EXPECT_EQ(status_of("/api/heatmap", {{"run", "a"}, {"field", "coactivation"}, {"layer", bad}}), 400) << bad;
  }
  EXPECT_EQ(status_of("/api/health", {{"run", "a"}, {"step", "2000"}}), 200);
  // Request text in a message has invalid UTF-8 escaped.
  EXPECT_EQ(message("/api/run", {{"run", "\xFF\xC0\xAF"}}), "404 no run '\\xFF\\xC0\\xAF' under the log directory");
}

TEST(DashboardApi, RunConfigIsNotReadThroughASymlinkOutOfTheLogDirectory) {
  moescope::testing::TempDir outside, logdir;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 2;
  moescope::testing::write_synthetic_run(logdir.path() + "/r", spec);
  std::ofstream(outside.file("config.json")) << "{\"secret\": 1}";
  std::filesystem::create_symlink(outside.file("config.json"), logdir.path() + "/r/config.json");
  RunCatalog catalog(logdir.path());
  catalog.update_all();
  DashboardApi api(catalog);
  EXPECT_TRUE(api.run({{"run", "r"}})["config"].is_null());
  std::filesystem::remove(logdir.path() + "/r/config.json");
  std::ofstream(logdir.path() + "/r/config.json") << "{\"model\": " << std::string(100000, '[') << "}";
  EXPECT_TRUE(api.run({{"run", "r"}})["config"].is_null());  // too deep to parse safely
  std::ofstream(logdir.path() + "/r/config.json") << "{\"model\": {\"d_model\": 64}}";
  EXPECT_EQ(api.run({{"run", "r"}})["config"]["model"]["d_model"], 64);
}

TEST(RunCatalog, IgnoresDirectoriesOutsideTheLogDirectory) {
  moescope::testing::TempDir outside, logdir;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 2;
  moescope::testing::write_synthetic_run(outside.path() + "/secret", spec);
  moescope::testing::write_synthetic_run(logdir.path() + "/mine", spec);
  std::filesystem::create_directory_symlink(outside.path() + "/secret", logdir.path() + "/link");
  RunCatalog c(logdir.path());
  EXPECT_EQ(c.ids(), std::vector<std::string>{"mine"});
  moescope::testing::expect_error<std::runtime_error>([&] { RunCatalog bad(logdir.file("nope")); },
                                                      {"not a directory"});
}

TEST(HealthTable, FromRecordFields) {
  const auto rec =
      nlohmann::json::parse(R"({"step":7,"moe":[{"layer":1,"entropy_norm":0.5,"n_eff":2.0,"maxvio_batch":3.0,
      "dead":[1,4],"drop_rate":0.1,"status":"collapsed"},{"layer":2}]})");
  const auto h = health_table(rec, {{2, 0.25}});
  EXPECT_EQ(h["step"], 7);
  EXPECT_EQ(h["layers"][0]["dead"], (std::vector<int>{1, 4}));
  EXPECT_EQ(h["layers"][0]["status"], "collapsed");
  EXPECT_TRUE(h["layers"][0]["maxvio_global"].is_null());
  EXPECT_EQ(h["layers"][1]["maxvio_global"], 0.25);
  EXPECT_EQ(h["layers"][1]["status"], "unknown");
  EXPECT_TRUE(h["layers"][1]["n_eff"].is_null());
}

}  // namespace moescope::dashboard
