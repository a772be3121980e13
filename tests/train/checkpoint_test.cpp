// checkpoint_test.cpp: crash safety, corruption detection, and the CLI's error reporting.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/atomic_file.h"
#include "train/checkpoint.h"
#include "train/loaded_run.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {
struct Proc {
  int code;
  std::string out;
};
// Runs the moescope binary with arguments (and an env prefix); captures stdout+stderr.
Proc moescope_cli(const std::string& args, const std::string& env = "") {
  std::string cmd = env + " " + std::string(MOESCOPE_BINARY) + " " + args + " 2>&1";
  Proc p{0, ""};
  FILE* f = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) p.out.append(buf, n);
  int st = pclose(f);
  p.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return p;
}
std::string train_args(const ScratchRun& s, const std::string& run, const std::string& extra) {
  return "train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() + " --out " +
         run + " --set data.cache_dir=" + s.cache() + " " + extra;
}
}  // namespace

TEST(Checkpoint, KillDuringSaveLeavesThePreviousCheckpointLoadable) {
  ScratchRun s("crash");
  const std::string run = s.run("r");
  auto a = moescope_cli(train_args(s, run, "--set train.max_steps=4 --set train.ckpt_every=2"));
  ASSERT_EQ(a.code, 0) << a.out;
  // Resume to step 6; the process dies in the middle of writing the step-6 checkpoint.
  auto b = moescope_cli("train --out " + run + " --resume --set train.max_steps=6 --set train.ckpt_every=2",
                        "MOESCOPE_TEST_CRASH_IN_SAVE=after_weights");
  ASSERT_EQ(b.code, 86) << b.out;
  Config cfg = read_run_config(run);
  Transformer m(cfg.model);
  EXPECT_EQ(load_checkpoint(latest_dir(run), m, nullptr).step, 4);
  // And the run resumes from there.
  auto c = moescope_cli("train --out " + run + " --resume --set train.max_steps=6");
  ASSERT_EQ(c.code, 0) << c.out;
  EXPECT_NE(c.out.find("resumed " + run + " at step 4"), std::string::npos) << c.out;
}

TEST(Checkpoint, RenamedAsideCopyIsFoundAfterACrashBetweenRenames) {
  ScratchRun s("aside");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=2"}), s.run("r"), false, log);
  t.run();
  const fs::path latest = latest_dir(s.run("r"));
  fs::rename(latest, latest.parent_path() / ".latest.old");  // state between the two renames
  Transformer m(t.config().model);
  EXPECT_EQ(load_checkpoint(latest.string(), m, nullptr).step, 2);
}

TEST(Checkpoint, CorruptedOrTruncatedCheckpointIsRefused) {
  ScratchRun s("corrupt");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=2"}), s.run("r"), false, log);
  t.run();
  const std::string weights = latest_dir(s.run("r")) + "/model.safetensors";
  const std::string good = read_file(weights);
  Transformer m(t.config().model);

  std::string flipped = good;
  flipped[flipped.size() - 10] ^= 0x5a;
  write_file_atomic(weights, flipped);
  try {
    load_checkpoint(latest_dir(s.run("r")), m, nullptr);
    FAIL() << "corrupted checkpoint accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  write_file_atomic(weights, good.substr(0, good.size() / 2));
  try {
    load_checkpoint(latest_dir(s.run("r")), m, nullptr);
    FAIL() << "truncated checkpoint accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  // The CLI reports it as an error, not a crash (eval reads checkpoints/best: damage that too).
  const std::string best = best_dir(s.run("r")) + "/model.safetensors";
  write_file_atomic(best, read_file(best).substr(0, 100));
  auto p = moescope_cli("eval --run " + s.run("r"));
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.out.find("moescope: error:"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("truncated"), std::string::npos) << p.out;
}

TEST(Checkpoint, TrainerStateVersionIsChecked) {
  nlohmann::json j = TrainerState().to_json();
  j["version"] = 99;
  try {
    TrainerState::from_json(j, "x/trainer_state.safetensors");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("version 99"), std::string::npos) << e.what();
  }
}

TEST(Cli, UnknownConfigKeysAreRefusedByName) {
  ScratchRun s("cli");
  auto a = moescope_cli(train_args(s, s.run("r"), "--set moe.bogus_key=1"));
  EXPECT_EQ(a.code, 2);
  EXPECT_NE(a.out.find("unknown config key 'moe.bogus_key'"), std::string::npos) << a.out;
  std::ofstream(s.root / "bad.toml") << "[train]\nmax_step = 3\n";
  auto b = moescope_cli("train --config " + (s.root / "bad.toml").string() + " --out " + s.run("q"));
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.out.find("'train.max_step'"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("did you mean 'train.max_steps'"), std::string::npos) << b.out;
  EXPECT_FALSE(fs::exists(s.run("r") + "/config.json"));  // nothing written for a bad config
}

TEST(Cli, EvalAndGenerateOnATrainedRun) {
  ScratchRun s("cli-eval");
  ASSERT_EQ(moescope_cli(train_args(s, s.run("r"), "--set train.max_steps=6")).code, 0);
  auto e1 = moescope_cli("eval --run " + s.run("r"));
  auto e2 = moescope_cli("eval --run " + s.run("r"));
  ASSERT_EQ(e1.code, 0) << e1.out;
  auto j1 = nlohmann::json::parse(e1.out.substr(e1.out.find("{\"")));
  auto j2 = nlohmann::json::parse(e2.out.substr(e2.out.find("{\"")));
  EXPECT_EQ(j1["val_loss"], j2["val_loss"]);  // deterministic
  EXPECT_GT(j1["tokens"].get<int64_t>(), 0);
  auto g1 = moescope_cli("generate --run " + s.run("r") + " --prompt 'the king' --tokens 20 --temperature 0 --json");
  auto g2 = moescope_cli("generate --run " + s.run("r") +
                         " --prompt 'the king' --tokens 20 --temperature 0 --json --no-cache");
  ASSERT_EQ(g1.code, 0) << g1.out;
  auto t1 = nlohmann::json::parse(g1.out.substr(g1.out.find("{\"")));
  auto t2 = nlohmann::json::parse(g2.out.substr(g2.out.find("{\"")));
  EXPECT_EQ(t1["text"], t2["text"]);  // greedy: the KV cache must not change the output
  EXPECT_EQ(t1["new_tokens"], 20);
}
