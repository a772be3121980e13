// checkpoint_validation_test.cpp: checkpoints that pass their checksums but lie (a weight's
// dtype relabelled, trainer-state fields out of range or missing, a router bias buffer
// removed) are refused by load_checkpoint and by every command, and a refused resume leaves
// metrics.jsonl untouched.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/atomic_file.h"
#include "io/remove_tree.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/loaded_run.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::cli;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {

// Decodes a safetensors file, lets `edit` change it, and writes it back with fresh CRCs.
void rewrite(const std::string& path, const std::function<void(SafetensorsFile&)>& edit) {
  SafetensorsFile f = load_safetensors(path);
  edit(f);
  save_safetensors(path, f.tensors, f.metadata);
}
void edit_state(const std::string& ckpt, const std::function<void(nlohmann::json&)>& edit) {
  rewrite(ckpt + "/trainer_state.safetensors", [&](SafetensorsFile& f) {
    auto j = nlohmann::json::parse(f.metadata.at("moescope.trainer_state"));
    edit(j);
    f.metadata["moescope.trainer_state"] = j.dump();
  });
}
std::string load_error(const std::string& ckpt, const Config& cfg, bool with_optimizer) {
  Transformer m(cfg.model);
  AdamW opt(adamw_params(*m, false, 1.0), 0.9, 0.95, 1e-8, 0.1);
  try {
    load_checkpoint(ckpt, m, with_optimizer ? &opt : nullptr);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "accepted";
}

struct TrainedRun {
  ScratchRun s;
  std::string run;
  explicit TrainedRun(const std::string& name) : s(name), run(s.run("r")) {
    std::ostringstream log;
    Trainer t(s.config({"train.max_steps=4", "train.ckpt_every=2", "train.eval_every=2"}), run, false, log);
    t.run();
  }
};

}  // namespace

// An F32 weight relabelled I32 (same byte size, CRCs recomputed) used to load as garbage.
TEST(CheckpointValidation, DtypeLieIsRefusedEverywhere) {
  TrainedRun r("ckv-dtype");
  for (const std::string& d : {latest_dir(r.run), best_dir(r.run)})
    rewrite(d + "/model.safetensors", [](SafetensorsFile& f) {
      for (auto& t : f.tensors)
        if (t.name == "model.embed_tokens.weight") t.dtype = "I32";
    });
  const Config cfg = read_run_config(r.run);
  const std::string e = load_error(latest_dir(r.run), cfg, false);
  EXPECT_NE(e.find("'model.embed_tokens.weight' is stored as I32, the model expects F32"), std::string::npos) << e;
  const std::string metrics_before = read_file(metrics_path(r.run));
  for (const std::string& cmd : {"eval --run " + r.run, "generate --run " + r.run + " --prompt 'the' --tokens 2",
                                 "compress --run " + r.run + " --out " + r.s.run("c"),
                                 "train --out " + r.run + " --resume --set train.max_steps=6"}) {
    auto [code, out] = cli(cmd);
    EXPECT_EQ(code, 2) << cmd << "\n" << out;
    EXPECT_NE(out.find("stored as I32"), std::string::npos) << cmd << "\n" << out;
  }
  EXPECT_EQ(read_file(metrics_path(r.run)), metrics_before);
}

// step = -5 used to be accepted on resume, delete every metrics.jsonl record and retrain from -5.
TEST(CheckpointValidation, StateFieldsOutOfRangeOrMissingAreRefusedAndTheLogIsKept) {
  TrainedRun r("ckv-state");
  const std::string ckpt = latest_dir(r.run);
  const std::string good = read_file(ckpt + "/trainer_state.safetensors");
  const std::string metrics_before = read_file(metrics_path(r.run));
  const Config cfg = read_run_config(r.run);
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& j) { j["step"] = -5; }, "'step' = -5: must be >= 0"},
      {[](nlohmann::json& j) { j["micro_index"] = -1; }, "'micro_index' = -1"},
      {[](nlohmann::json& j) { j["micro_index"] = 1; }, "'micro_index' = 1: must be >= step = 4"},
      {[](nlohmann::json& j) { j.erase("tokens_seen"); }, "'tokens_seen' is missing"},
      {[](nlohmann::json& j) { j["step"] = "4"; }, "'step' must be an integer"},
      {[](nlohmann::json& j) { j["best_step"] = 99; }, "'best_step' = 99: must be <= step"},
      {[](nlohmann::json& j) { j["elapsed_s"] = -1.0; }, "'elapsed_s' must be a finite number >= 0"},
      {[](nlohmann::json& j) { j["skipped_steps"] = 7; }, "'skipped_steps' = 7: must be <= step"},
      {[](nlohmann::json& j) { j["eval_pending"] = 1; }, "'eval_pending' must be a boolean"},
  };
  for (const auto& c : cases) {
    write_file_atomic(ckpt + "/trainer_state.safetensors", good);
    edit_state(ckpt, c.edit);
    const std::string e = load_error(ckpt, cfg, true);
    EXPECT_NE(e.find(c.needle), std::string::npos) << e;
    EXPECT_NE(e.find("trainer_state.safetensors"), std::string::npos) << e;
  }
  // Through the CLI: refused before the log is touched.
  write_file_atomic(ckpt + "/trainer_state.safetensors", good);
  edit_state(ckpt, [](nlohmann::json& j) { j["step"] = -5; });
  auto [code, out] = cli("train --out " + r.run + " --resume --set train.max_steps=6");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("'step' = -5"), std::string::npos) << out;
  EXPECT_EQ(read_file(metrics_path(r.run)), metrics_before);
}

TEST(CheckpointValidation, MissingOrMistypedStateTensorsAreRefused) {
  TrainedRun r("ckv-tensors");
  const std::string ckpt = latest_dir(r.run);
  const std::string path = ckpt + "/trainer_state.safetensors";
  const std::string good = read_file(path);
  const Config cfg = read_run_config(r.run);
  auto drop = [&](const std::string& name) {
    rewrite(path, [&](SafetensorsFile& f) {
      f.tensors.erase(std::remove_if(f.tensors.begin(), f.tensors.end(), [&](auto& t) { return t.name == name; }),
                      f.tensors.end());
    });
  };
  drop("router_bias/0");
  std::string e = load_error(ckpt, cfg, false);
  EXPECT_NE(e.find("missing tensor 'router_bias/0'"), std::string::npos) << e;
  write_file_atomic(path, good);
  drop("rng/cpu");
  e = load_error(ckpt, cfg, true);
  EXPECT_NE(e.find("'rng/cpu'"), std::string::npos) << e;
  write_file_atomic(path, good);
  rewrite(path, [](SafetensorsFile& f) {
    for (auto& t : f.tensors)
      if (t.name.rfind("exp_avg_sq/", 0) == 0) t.dtype = "I32";
  });
  e = load_error(ckpt, cfg, true);
  EXPECT_NE(e.find("stored as I32"), std::string::npos) << e;
  write_file_atomic(path, good);
  EXPECT_EQ(load_error(ckpt, cfg, true), "accepted");
}

// A hostile-input probe (issue 31): with model.safetensors deleted from both checkpoints,
// `train --resume` used to say "no checkpoint yet", restart from step 0 and rewrite the log.
// A run that wrote checkpoints and lost them is refused, naming what is damaged; the log is kept.
// Starting over stays possible, explicitly: remove checkpoints/ and resume.
TEST(CheckpointValidation, LostCheckpointsAreRefusedAndTheLogIsKept) {
  TrainedRun r("ckv-lost");
  const std::string metrics_before = read_file(metrics_path(r.run));
  for (const std::string& d : {latest_dir(r.run), best_dir(r.run)}) fs::remove(d + "/model.safetensors");
  auto [code, out] = cli("train --out " + r.run + " --resume --set train.max_steps=6");
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("wrote checkpoints but none can be read"), std::string::npos) << out;
  EXPECT_NE(out.find(latest_dir(r.run) + ": no model.safetensors (holds: "), std::string::npos) << out;
  EXPECT_NE(out.find(best_dir(r.run) + ": no model.safetensors"), std::string::npos) << out;
  EXPECT_EQ(out.find("no checkpoint yet"), std::string::npos) << out;
  EXPECT_EQ(read_file(metrics_path(r.run)), metrics_before);
  // The explicit choice: without checkpoints/ the run starts again from step 0.
  remove_tree(fs::path(latest_dir(r.run)).parent_path().string());
  auto [code2, out2] = cli("train --out " + r.run + " --resume --set train.max_steps=2");
  EXPECT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("no checkpoint yet"), std::string::npos) << out2;
}
