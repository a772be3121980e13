// probe_cache_test.cpp: the per-machine probe cache (core/probe_cache.h): a stored value comes
// back for its key only; another key, or a file of another version, is a miss; a damaged file or
// entry is a miss with a warning and is rewritten by the next store; the path follows
// MOESCOPE_CACHE, XDG_CACHE_HOME, HOME in that order. Files go to a temporary directory only.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/probe_cache.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("moescope_probe_cache_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// Sets an environment variable for one scope (restored after).
struct EnvScope {
  std::string name, old;
  bool had;
  EnvScope(const std::string& n, const char* value) : name(n) {
    const char* o = std::getenv(n.c_str());
    had = o != nullptr;
    if (had) old = o;
    if (value) setenv(n.c_str(), value, 1);
    else unsetenv(n.c_str());
  }
  ~EnvScope() {
    if (had) setenv(name.c_str(), old.c_str(), 1);
    else unsetenv(name.c_str());
  }
};

}  // namespace

TEST(ProbeCache, StoresPerKeyAndKeepsOtherEntries) {
  TempDir d;
  const std::string path = (d.path / "sub" / "probes.json").string();  // the directory is created
  const std::string a = probe_key("bf16", "CPU A", "1.13.0", 2), b = probe_key("bf16", "CPU A", "1.13.0", 1);
  EXPECT_NE(a, b);
  EXPECT_FALSE(probe_cache_get(path, a).value);
  EXPECT_EQ(probe_cache_get(path, a).warning, "");  // no file: a plain miss
  EXPECT_EQ(probe_cache_put(path, a, 3.25, {3.2, 3.25, 3.1}), "");
  ASSERT_TRUE(probe_cache_get(path, a).value);
  EXPECT_DOUBLE_EQ(*probe_cache_get(path, a).value, 3.25);
  EXPECT_FALSE(probe_cache_get(path, b).value);  // another thread count: measured afresh
  EXPECT_EQ(probe_cache_put(path, b, 0.7, {0.7}), "");
  EXPECT_DOUBLE_EQ(*probe_cache_get(path, a).value, 3.25);  // kept
  EXPECT_DOUBLE_EQ(*probe_cache_get(path, b).value, 0.7);
  EXPECT_FALSE(probe_cache_get("", a).value);  // no path: nothing stored
  EXPECT_EQ(probe_cache_put("", a, 1.0, {}), "");
}

TEST(ProbeCache, DamagedFileOrEntryWarnsAndIsRewritten) {
  TempDir d;
  const std::string path = (d.path / "probes.json").string();
  const std::string k = probe_key("bf16", "CPU", "2.11.0", 2);
  for (const char* bad : {"{not json", "[1, 2]", "{\"version\": 1}", "{\"version\": 1, \"entries\": 5}"}) {
    write(path, bad);
    const ProbeLookup r = probe_cache_get(path, k);
    EXPECT_FALSE(r.value) << bad;
    EXPECT_NE(r.warning.find("not a moescope probe cache"), std::string::npos) << bad;
    EXPECT_EQ(probe_cache_put(path, k, 2.0, {2.0}), "") << bad;
    EXPECT_DOUBLE_EQ(*probe_cache_get(path, k).value, 2.0) << bad;
  }
  nlohmann::json j = {{"version", kProbeCacheVersion}, {"entries", {{k, {{"value", "fast"}}}}}};
  write(path, j.dump());
  const ProbeLookup r = probe_cache_get(path, k);
  EXPECT_FALSE(r.value);
  EXPECT_NE(r.warning.find("damaged"), std::string::npos);
  j["entries"][k] = {{"value", 0.0}};  // a ratio is > 0
  write(path, j.dump());
  EXPECT_FALSE(probe_cache_get(path, k).value);
  // Another version's file: a miss without a warning (it is not ours to read), replaced on store.
  j = {{"version", kProbeCacheVersion + 1}, {"entries", {{k, {{"value", 9.0}}}}}};
  write(path, j.dump());
  EXPECT_FALSE(probe_cache_get(path, k).value);
  EXPECT_EQ(probe_cache_get(path, k).warning, "");
}

TEST(ProbeCache, PathFollowsTheEnvironment) {
  EnvScope mc("MOESCOPE_CACHE", "/tmp/mc"), xdg("XDG_CACHE_HOME", "/tmp/xdg"), home("HOME", "/tmp/home");
  EXPECT_EQ(default_probe_cache_path(), "/tmp/mc/probes.json");
  {
    EnvScope no_mc("MOESCOPE_CACHE", nullptr);
    EXPECT_EQ(default_probe_cache_path(), "/tmp/xdg/moescope/probes.json");
    EnvScope no_xdg("XDG_CACHE_HOME", nullptr);
    EXPECT_EQ(default_probe_cache_path(), "/tmp/home/.cache/moescope/probes.json");
  }
}
