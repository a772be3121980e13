// run_dir_test.cpp: a run directory's config.json round trip (run/run_dir.h), and an older run's
// retired settings.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "run/run_dir.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {
struct Dir {
  fs::path p = fs::temp_directory_path() / ("run_config_test_" + std::to_string(::getpid()));
  Dir() { fs::create_directories(p); }
  ~Dir() { fs::remove_all(p); }
};
}  // namespace

TEST(RunConfig, AnOlderRunsRetiredStarvedShareIsDroppedAndAnUnknownKeyStillFails) {
  Dir d;
  Config c;
  c.scope.entropy_floor = 0.75;  // an older run's value, kept as written
  write_run_config(d.p.string(), c);
  nlohmann::json j = nlohmann::json::parse(std::ifstream(config_path(d.p.string())));
  j["scope"]["starved_share"] = 0.01;  // written by runs before issue 28
  std::ofstream(config_path(d.p.string())) << j.dump(2);
  Config back = read_run_config(d.p.string());
  EXPECT_DOUBLE_EQ(back.scope.entropy_floor, 0.75);
  EXPECT_DOUBLE_EQ(back.scope.starved_ratio, ScopeConfig{}.starved_ratio);
  j["scope"]["starved_shares"] = 0.01;  // a typo is not retired
  std::ofstream(config_path(d.p.string())) << j.dump(2);
  try {
    read_run_config(d.p.string());
    FAIL() << "an unknown key was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("starved_shares"), std::string::npos) << e.what();
  }
}
