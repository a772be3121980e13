// legacy_run_test.cpp: a run written before the router knobs were saved in checkpoints
// (tests/fixtures/runs/tiny-remediated, see its README) still loads, displays and resumes, and
// its remediated router knobs come back from the run log; the resumed checkpoint then holds them.
#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "routing/router_knobs.h"
#include "train/loaded_run.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::cli;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {

// A copy of the fixture whose config names the copy's corpus and a scratch cache.
std::string copy_fixture(const ScratchRun& s) {
  const std::string dir = s.run("legacy");
  fs::copy(moescope::testing::source_path("tests/fixtures/runs/tiny-remediated"), dir, fs::copy_options::recursive);
  auto j = nlohmann::json::parse(read_file(config_path(dir)));
  j["data"]["path"] = (fs::path(dir) / "corpus.txt").string();
  j["data"]["cache_dir"] = s.cache();
  write_file_atomic(config_path(dir), j.dump(2) + "\n");
  return dir;
}

nlohmann::json trainer_state(const std::string& run_dir) {
  auto f = load_safetensors(latest_dir(run_dir) + "/trainer_state.safetensors");
  return nlohmann::json::parse(f.metadata.at("moescope.trainer_state"));
}
}  // namespace

TEST(LegacyRun, LoadsDisplaysAndResumesWithTheKnobsItsLadderSet) {
  ScratchRun s("legacy");
  const std::string dir = copy_fixture(s);
  ASSERT_FALSE(trainer_state(dir).contains("router_knobs"));  // written before the knobs were saved

  auto run = load_run(dir, "cpu");
  EXPECT_EQ(run.step, 20);
  EXPECT_EQ(run.cfg.model.moe.top_k, 1);
  EXPECT_EQ(run.cfg.train.dtype, DType::kFp32);

  auto [sc, table] = cli("scope --run " + dir);
  ASSERT_EQ(sc, 0) << table;
  EXPECT_NE(table.find("20"), std::string::npos) << table;

  // scope.* may change on resume: the ladder is switched off, so the knobs stay as replayed.
  auto [tc, out] = cli("train --out " + dir + " --resume --set train.max_steps=21 --set scope.remediate=false");
  ASSERT_EQ(tc, 0) << out;
  const auto st = trainer_state(dir);
  EXPECT_EQ(st.at("step"), 21);
  ASSERT_TRUE(st.contains("router_knobs")) << st.dump();
  ASSERT_EQ(st["router_knobs"].size(), 1u);
  RouterKnobs want;  // the logged actions up to step 20 (metrics.jsonl)
  want.bias_balance = true;
  want.bias_update_rate = 0.004;
  want.jitter = Jitter::kInput;
  want.jitter_eps = 0.02;
  want.seq_aux_loss_alpha = 0.004;
  want.z_loss_beta = 0.004;
  want.lr_mult = 1.875;
  EXPECT_EQ(RouterKnobs::from_json(st["router_knobs"][0], "test"), want) << st["router_knobs"][0].dump();
}
