// health_table_test.cpp: `moescope scope` reads the run log, tolerating a truncated last line.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/remove_tree.h"
#include "run/health.h"

using namespace moescope;

TEST(HealthTable, LatestOrRequestedStepAndTruncatedLastLine) {
  auto dir = std::filesystem::temp_directory_path() / ("moescope-health-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "metrics.jsonl").string();
  {
    std::ofstream f(path);
    f << R"({"schema":1,"type":"train","step":10,"moe":[{"layer":1,"entropy_norm":0.9,"n_eff":7.1,"maxvio_batch":0.3,"drop_rate":0,"dead":[],"status":"ok"}]})"
         "\n";
    f << R"({"schema":1,"type":"eval","step":10,"val_loss":2.0})"
         "\n";
    f << R"({"schema":1,"type":"train","step":20,"moe":[{"layer":1,"entropy_norm":0.2,"n_eff":1.3,"maxvio_batch":5.1,"drop_rate":0.25,"dead":[3,4],"status":"collapsed"}]})"
         "\n";
    f << R"({"schema":1,"type":"train","step":30,"moe":[{"la)";  // killed mid-write
  }
  auto t = read_health_table(path);
  EXPECT_EQ(t.step, 20);
  ASSERT_EQ(t.warnings.size(), 1u);
  auto text = t.render();
  EXPECT_NE(text.find("collapsed"), std::string::npos) << text;
  EXPECT_NE(text.find("3,4"), std::string::npos) << text;
  EXPECT_NE(text.find("25.00%"), std::string::npos) << text;
  EXPECT_EQ(read_health_table(path, 15).step, 10);
  EXPECT_THROW(read_health_table(path, 5), std::runtime_error);
  remove_tree(dir.string());
}

TEST(HealthTable, NewerFieldsShownAndOptional) {
  // A newer layer record (starved experts, tokens per expert) next to an older one without them.
  nlohmann::json rec = nlohmann::json::parse(R"({"step":40,"moe":[
    {"layer":1,"entropy_norm":0.6,"n_eff":3.5,"maxvio_batch":2.0,"drop_rate":0,"dead":[],"starved":[2,5],
     "max_token_share":0.4,"tokens_per_expert":{"p50":120,"p90":300,"p99":410,"min":1,"max":420,"cv":0.9},"status":"collapsed"},
    {"layer":2,"entropy_norm":0.99,"n_eff":7.9,"maxvio_batch":0.2,"drop_rate":0,"dead":[],"status":"ok"}]})");
  auto rows = health_table(rec, {})["layers"];
  EXPECT_EQ(rows[0]["starved"], nlohmann::json::array({2, 5}));
  EXPECT_EQ(rows[0]["tokens_per_expert"]["p99"], 410);
  EXPECT_TRUE(rows[1]["starved"].empty());
  EXPECT_TRUE(rows[1]["tokens_per_expert"].is_null());
  HealthTable t;
  t.step = 40;
  t.layers.assign(rec["moe"].begin(), rec["moe"].end());
  t.summary = {{"tokens_per_expert", {{"p50", 200}, {"p90", 300}, {"p99", 410}, {"min", 1}, {"max", 420}, {"cv", 0.5}}},
               {"maxvio_batch_max", 2.0}};
  auto text = t.render();
  EXPECT_NE(text.find("120/410"), std::string::npos) << text;
  EXPECT_NE(text.find("all layers: tokens/expert p50 200"), std::string::npos) << text;
}
