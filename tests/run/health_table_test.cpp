// health_table_test.cpp: `moescope scope` reads the run log, tolerating a truncated last line.
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
    f << R"({"schema":1,"type":"train","step":10,"moe":[{"layer":1,"entropy_norm":0.9,"n_eff":7.1,"maxvio_batch":0.3,"drop_rate":0,"dead":[],"status":"ok"}]})" "\n";
    f << R"({"schema":1,"type":"eval","step":10,"val_loss":2.0})" "\n";
    f << R"({"schema":1,"type":"train","step":20,"moe":[{"layer":1,"entropy_norm":0.2,"n_eff":1.3,"maxvio_batch":5.1,"drop_rate":0.25,"dead":[3,4],"status":"collapsed"}]})" "\n";
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
