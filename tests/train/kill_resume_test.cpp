// kill_resume_test.cpp: a run killed with SIGKILL at 20 seeded moments (micro-batches,
// validation batches, log records and every stage of a checkpoint write; the first before any
// checkpoint) resumes to the same weights and log as an uninterrupted run; and the edges of
// resuming: a finished run writes nothing, stale temp directories are removed, a signal during
// validation, a validation split too short, a model too large for memory.
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/atomic_file.h"
#include "io/jsonl.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/loaded_run.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {

// {exit status or -SIGNAL, output}
// MOESCOPE_NO_REEXEC + OMP_WAIT_POLICY: no start-up re-execution (half the start-up time of
// each of the ~45 processes; the same for every run compared).
std::pair<int, std::string> run_cli(const std::string& args, const std::string& env = "") {
  std::string out;
  FILE* f = popen(("exec env MOESCOPE_NO_REEXEC=1 OMP_WAIT_POLICY=PASSIVE " + env + " " + std::string(MOESCOPE_BINARY) +
                   " " + args + " 2>&1")
                      .c_str(),
                  "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int st = pclose(f);
  // `exec`: the shell of popen becomes the binary, so a kill shows as the signal itself.
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st), out};
}

const char* const kSets =
    " --set train.max_steps=24 --set train.log_every=1 --set train.eval_every=8 --set train.ckpt_every=8"
    " --set train.eval_max_batches=2 --set train.grad_accum=2 --set moe.jitter=input --set moe.jitter_eps=0.05"
    " --set moe.bias_update_rate=0.01 --set scope.tensorboard=false";

std::string train_cmd(const ScratchRun& s, const std::string& run) {
  return "train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() + " --out " +
         run + " --set data.cache_dir=" + s.cache() + kSets;
}

// The log without its wall-clock fields, one string per record, in order. Also without the
// microscope's "saturation" (its top-k overlap compares with the previous interval, which a
// new process has not seen: null in the first record after a resume).
std::vector<std::string> log_records(const std::string& run) {
  std::vector<std::string> out;
  for (auto r : read_jsonl(metrics_path(run)).records) {
    for (const char* k : {"elapsed_s", "tokens_per_s", "saturation"}) r.erase(k);
    out.push_back(r.dump());
  }
  return out;
}

// Tensor name -> bytes of a safetensors file.
std::map<std::string, std::string> tensors(const std::string& path) {
  std::map<std::string, std::string> m;
  for (auto& t : load_safetensors(path).tensors) m[t.name] = t.dtype + ":" + t.bytes;
  return m;
}

}  // namespace

TEST(KillResume, SigkillAtTwentySeededMomentsLosesNothing) {
  ScratchRun s("kill");
  const std::string trace = (s.root / "trace.txt").string();
  auto [code, out] = run_cli(train_cmd(s, s.run("ref")), "MOESCOPE_TEST_CRASH_TRACE=" + trace);
  ASSERT_EQ(code, 0) << out;
  std::vector<std::string> points;
  {
    std::ifstream f(trace);
    for (std::string line; std::getline(f, line);) points.push_back(line);
  }
  std::vector<int64_t> save_points;
  for (size_t i = 0; i < points.size(); ++i)
    if (points[i].rfind("save_", 0) == 0) save_points.push_back(static_cast<int64_t>(i) + 1);
  ASSERT_GT(points.size(), 100u);
  ASSERT_GE(save_points.size(), 10u);
  // 20 distinct moments: the very first (before any checkpoint), 9 anywhere, 10 inside checkpoint writes.
  std::mt19937 rng(20261130);
  std::set<int64_t> moments{1};
  while (moments.size() < 11) moments.insert(1 + static_cast<int64_t>(rng() % points.size()));
  while (moments.size() < 20) moments.insert(save_points[rng() % save_points.size()]);

  const auto ref_log = log_records(s.run("ref"));
  const auto ref_weights = tensors(latest_dir(s.run("ref")) + "/model.safetensors");
  // The trials run two at a time (each is a kill, then a resume); the checks follow in order.
  struct Trial {
    int64_t at;
    std::pair<int, std::string> killed, resumed;
  };
  std::vector<Trial> trials;
  for (const int64_t at : moments) trials.push_back({at, {}, {}});
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next++) < trials.size();) {
      const std::string run = s.run("k" + std::to_string(trials[i].at));
      trials[i].killed = run_cli(train_cmd(s, run), "MOESCOPE_TEST_KILL_AT=" + std::to_string(trials[i].at));
      trials[i].resumed = run_cli("train --out " + run + " --resume");
    }
  };
  std::thread other(worker);
  worker();
  other.join();

  int passed = 0;
  for (const auto& trial : trials) {
    const int64_t at = trial.at;
    const std::string run = s.run("k" + std::to_string(at));
    const std::string where =
        "killed at point " + std::to_string(at) + " (" + points[static_cast<size_t>(at - 1)] + ")";
    const auto& [kc, kout] = trial.killed;
    const auto& [rc, rout] = trial.resumed;
    EXPECT_EQ(kc, -SIGKILL) << where << "\n" << kout;
    EXPECT_EQ(rc, 0) << where << "\n" << rout;
    if (rc != 0) continue;
    if (at == 1) {
      EXPECT_NE(rout.find("no checkpoint yet"), std::string::npos) << rout;
    }
    // The final checkpoint loads, at the last step, and holds the uninterrupted run's weights.
    Config cfg = read_run_config(run);
    Transformer m(cfg.model);
    EXPECT_EQ(load_checkpoint(latest_dir(run), m, nullptr).step, 24) << where;
    EXPECT_TRUE(tensors(latest_dir(run) + "/model.safetensors") == ref_weights) << where;
    // The log holds every record once, as the uninterrupted run wrote it (fp32: exactly).
    const auto log = log_records(run);
    EXPECT_EQ(log, ref_log) << where;
    // No temp directory survives the resume.
    for (const auto& e : fs::directory_iterator(fs::path(latest_dir(run)).parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << where << ": " << e.path();
    passed += !::testing::Test::HasFailure();
  }
  EXPECT_EQ(passed, 20) << "trials that passed (a failure fails the rest too: see the first)";
}

TEST(KillResume, ResumingAFinishedRunWritesNothing) {
  ScratchRun s("finished");
  const std::string run = s.run("r");
  ASSERT_EQ(run_cli(train_cmd(s, run)).first, 0);
  const std::string metrics = read_file(metrics_path(run));
  const std::string weights = read_file(latest_dir(run) + "/model.safetensors");
  const auto mtime = fs::last_write_time(latest_dir(run) + "/model.safetensors");
  auto [code, out] = run_cli("train --out " + run + " --resume");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("nothing to do"), std::string::npos) << out;
  EXPECT_EQ(read_file(metrics_path(run)), metrics);  // no second eval record at the last step
  EXPECT_EQ(read_file(latest_dir(run) + "/model.safetensors"), weights);
  EXPECT_EQ(fs::last_write_time(latest_dir(run) + "/model.safetensors"), mtime);
}

TEST(KillResume, StaleTempDirectoriesAreRemovedAtStart) {
  ScratchRun s("stale");
  const std::string run = s.run("r");
  ASSERT_EQ(run_cli(train_cmd(s, run) + " --set train.max_steps=8").first, 0);
  const fs::path ckpts = fs::path(latest_dir(run)).parent_path();
  fs::create_directories(ckpts / ".latest.tmp-999999");
  std::ofstream(ckpts / ".latest.tmp-999999" / "model.safetensors") << "partial";
  fs::create_directories(ckpts / ".best.tmp-999998");
  std::ofstream(fs::path(run) / "config.json.tmp.999997") << "{";
  auto [code, out] = run_cli("train --out " + run + " --resume --set train.max_steps=9");
  ASSERT_EQ(code, 0) << out;
  EXPECT_FALSE(fs::exists(ckpts / ".latest.tmp-999999"));
  EXPECT_FALSE(fs::exists(ckpts / ".best.tmp-999998"));
  EXPECT_FALSE(fs::exists(fs::path(run) / "config.json.tmp.999997"));
  EXPECT_TRUE(fs::exists(fs::path(run) / "config.json"));
}

// SIGTERM during a validation pass stops at the next batch: no eval record, a checkpoint, and
// the resume evaluates that step first, so the log ends as an uninterrupted run's.
TEST(KillResume, SignalDuringValidationStopsAtTheNextBatch) {
  ScratchRun s("sigeval");
  const std::vector<std::string> sets = {"train.max_steps=8", "train.eval_every=4", "train.eval_max_batches=0",
                                         "train.log_every=1", "scope.tensorboard=false"};
  std::ostringstream log;
  {
    Trainer ref(s.config(sets), s.run("ref"), false, log);
    ASSERT_EQ(ref.run().exit_code, 0);
  }
  int batches = 0;
  {
    Trainer t(s.config(sets), s.run("r"), false, log);
    t.hooks.eval_after_forward = [&batches] {
      if (++batches == 1) std::raise(SIGTERM);
    };
    const auto r = t.run();
    EXPECT_EQ(r.exit_code, 130);
    EXPECT_EQ(r.steps, 4);
    EXPECT_EQ(batches, 1) << "the evaluation must stop after the batch that was running";
  }
  for (const auto& rec : read_jsonl(metrics_path(s.run("r"))).records) EXPECT_NE(rec.value("type", ""), "eval");
  Trainer resumed(s.config(sets), s.run("r"), true, log);
  EXPECT_TRUE(resumed.state().eval_pending);
  ASSERT_EQ(resumed.run().exit_code, 0);
  EXPECT_EQ(log_records(s.run("r")), log_records(s.run("ref")));
}

TEST(KillResume, ShortValidationSplitIsExplainedBeforeTraining) {
  ScratchRun s("shortval");
  std::ostringstream log;
  try {
    Trainer t(s.config({"data.val_fraction=0.001", "model.max_seq_len=64", "train.seq_len=64"}), s.run("r"), false,
              log);
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the validation split holds"), std::string::npos) << m;
    EXPECT_NE(m.find("train.seq_len + 1 = 65"), std::string::npos) << m;
    EXPECT_NE(m.find("data.val_fraction"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(config_path(s.run("r"))));  // refused before the run is recorded
}

// The estimate is printed and checked before any allocation: a model that does not fit is
// refused naming its largest term and keys (not a segfault or an allocator backtrace).
TEST(KillResume, TooLargeForMemoryIsRefusedByName) {
  ScratchRun s("memory");
  std::ostringstream log;
  try {
    Trainer t(s.config(), s.run("r"), false, log, /*max_memory_bytes=*/100000);
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-memory"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("largest term"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(config_path(s.run("r"))));
  EXPECT_NE(log.str().find("memory estimate:"), std::string::npos);
  const std::string cfg = moescope::testing::source_path("configs/tiny.toml");
  auto [c1, o1] = run_cli("selfcheck --config " + cfg + " --set model.n_layers=100000000");
  EXPECT_EQ(c1, 2) << o1;
  EXPECT_NE(o1.find("model.n_layers"), std::string::npos) << o1;
  auto [c2, o2] = run_cli("selfcheck --config " + cfg +
                          " --set model.d_model=65536 --set moe.expert_hidden=1048576 "
                          "--set moe.n_routed=4096 --set moe.first_k_dense=0");
  EXPECT_EQ(c2, 2) << o2;
  EXPECT_NE(o2.find("MemAvailable"), std::string::npos) << o2;
  EXPECT_NE(o2.find("moe.n_routed x moe.expert_hidden"), std::string::npos) << o2;
  auto [c3, o3] = run_cli("train --config " + cfg + " --data " + s.corpus() + " --out " + s.run("q") +
                          " --set data.cache_dir=" + s.cache() + " --max-memory 64K");
  EXPECT_EQ(c3, 2) << o3;
  EXPECT_NE(o3.find("64.0 KiB available (--max-memory)"), std::string::npos) << o3;
  auto [c4, o4] = run_cli("selfcheck --config " + cfg);
  EXPECT_EQ(c4, 0) << o4;
  EXPECT_NE(o4.find("\"estimate_matches_params\""), std::string::npos) << o4;
}
