// trainer_test.cpp: resume equivalence, non-finite steps, loss falls, eval determinism.
#include <csignal>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/jsonl.h"
#include "train/evaluate.h"
#include "train/loaded_run.h"
#include "train/trainer.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::ScratchRun;

namespace {
std::map<std::string, at::Tensor> snapshot(Transformer& m) {
  std::map<std::string, at::Tensor> s;
  for (auto& p : m->named_parameters()) s[p.key()] = p.value().detach().clone();
  for (auto& b : m->named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}
std::map<int64_t, double> train_losses(const std::string& run_dir) {
  std::map<int64_t, double> out;
  for (auto& r : read_jsonl(metrics_path(run_dir)).records)
    if (r.value("type", "") == "train") out[r["step"].get<int64_t>()] = r["loss"].get<double>();
  return out;
}
// Jitter on, so the restored RNG state matters; bias balancing on, so the bias buffers do.
const std::vector<std::string> kResumeSets = {"train.max_steps=12",        "train.log_every=1", "train.ckpt_every=3",
                                              "train.eval_every=100",      "moe.jitter=input",  "moe.jitter_eps=0.05",
                                              "moe.bias_update_rate=0.01", "train.grad_accum=2"};
}  // namespace

// N steps straight vs N/2, stop, resume, N/2: identical weights and loss curve.
// Tolerance: 0 (bitwise) expected on CPU with the same thread count; asserted at 1e-6.
TEST(Trainer, ResumeGivesTheSameWeightsAndLossCurve) {
  ScratchRun s("resume");
  std::ostringstream log;
  Trainer straight(s.config(kResumeSets), s.run("a"), false, log);
  ASSERT_EQ(straight.run().exit_code, 0);
  auto w_straight = snapshot(straight.model());

  {
    Trainer first(s.config(kResumeSets), s.run("b"), false, log);
    first.hooks.after_step = [](int64_t step) {
      if (step == 6) std::raise(SIGTERM);  // a stop request mid-run: checkpoint, then exit
    };
    auto r = first.run();
    EXPECT_EQ(r.exit_code, 130);
    EXPECT_EQ(r.steps, 6);
  }
  Trainer second(s.config(kResumeSets), s.run("b"), true, log);
  EXPECT_EQ(second.state().step, 6);
  ASSERT_EQ(second.run().exit_code, 0);
  auto w_resumed = snapshot(second.model());

  ASSERT_EQ(w_straight.size(), w_resumed.size());
  for (auto& [k, v] : w_straight) EXPECT_LE((v - w_resumed[k]).abs().max().item<double>(), 1e-6) << k;
  auto la = train_losses(s.run("a")), lb = train_losses(s.run("b"));
  ASSERT_EQ(la.size(), 12u);
  ASSERT_EQ(lb.size(), 12u) << "a resumed log must hold each step exactly once";
  for (auto& [step, l] : la) EXPECT_NEAR(l, lb[step], 1e-6) << "step " << step;
}

// A stop request between the micro-batches of a step (grad_accum = 2, jitter on) drops that
// step: the data position and the RNG go back, so the resumed run still matches exactly.
TEST(Trainer, SignalBetweenMicroBatchesDropsThePartialStep) {
  ScratchRun s("midstep");
  std::ostringstream log;
  Trainer straight(s.config(kResumeSets), s.run("a"), false, log);
  ASSERT_EQ(straight.run().exit_code, 0);
  auto w_straight = snapshot(straight.model());
  {
    Trainer first(s.config(kResumeSets), s.run("b"), false, log);
    bool raised = false;
    first.hooks.after_forward = [&raised](int64_t step) {
      if (step == 5 && !raised) raised = true, std::raise(SIGTERM);  // inside the 6th step
    };
    auto r = first.run();
    EXPECT_EQ(r.exit_code, 130);
    EXPECT_EQ(r.steps, 5);
    EXPECT_EQ(first.state().micro_index, 10);  // 5 steps x 2 micro-batches: the partial one given back
  }
  Trainer second(s.config(kResumeSets), s.run("b"), true, log);
  ASSERT_EQ(second.run().exit_code, 0);
  auto w_resumed = snapshot(second.model());
  for (auto& [k, v] : w_straight) EXPECT_EQ((v - w_resumed[k]).abs().max().item<double>(), 0.0) << k;
  auto la = train_losses(s.run("a")), lb = train_losses(s.run("b"));
  ASSERT_EQ(lb.size(), 12u);
  for (auto& [step, l] : la) EXPECT_EQ(l, lb[step]) << "step " << step;
}

TEST(Trainer, ResumeRefusesAChangedModel) {
  ScratchRun s("resume-changed");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=2"}), s.run("r"), false, log);
  t.run();
  try {
    Trainer u(s.config({"train.max_steps=4", "moe.top_k=1"}), s.run("r"), true, log);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("moe.top_k"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Trainer(s.config({"train.max_steps=4"}), s.run("r"), false, log),
               std::runtime_error);  // no silent overwrite
}

// train.dtype = "auto" is resolved once, at the start, and saved resolved: config.json (what
// resume and eval read) never holds "auto", and a resume with "auto" keeps the saved dtype.
TEST(Trainer, AutoDtypeIsSavedResolved) {
  ScratchRun s("auto-dtype");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=2", "train.dtype=auto"}), s.run("r"), false, log);
  const std::string picked = enum_name(t.config().train.dtype);
  EXPECT_TRUE(picked == "bf16" || picked == "fp32") << picked;
  EXPECT_NE(log.str().find("train.dtype auto -> " + picked), std::string::npos) << log.str();
  t.run();
  EXPECT_EQ(enum_name(read_run_config(s.run("r")).train.dtype), picked);
  Trainer u(s.config({"train.max_steps=3", "train.dtype=auto"}), s.run("r"), true, log);
  EXPECT_EQ(enum_name(u.config().train.dtype), picked);
  Trainer v(s.config({"train.max_steps=4", "train.dtype=fp32"}), s.run("r"), true, log);
  EXPECT_EQ(v.config().train.dtype, DType::kFp32);  // an explicit value still wins on resume
}

TEST(Trainer, TinyPresetLossFalls) {
  ScratchRun s("falls");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=40", "train.log_every=5"}), s.run("r"), false, log);
  auto r = t.run();
  ASSERT_EQ(r.exit_code, 0);
  auto l = train_losses(s.run("r"));
  ASSERT_GE(l.size(), 4u);
  EXPECT_LT(l.rbegin()->second, l.begin()->second - 0.5)
      << "first " << l.begin()->second << " last " << l.rbegin()->second;
  EXPECT_TRUE(std::isfinite(r.best_val_loss));
}

TEST(Trainer, NonFiniteStepsAreSkippedThenStopTheRun) {
  ScratchRun s("nan");
  std::ostringstream log;
  setenv("MOESCOPE_TEST_NAN_STEPS", "3", 1);
  {
    Trainer t(s.config({"train.max_steps=6", "train.ckpt_every=2"}), s.run("one"), false, log);
    auto r = t.run();
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.skipped_steps, 1);
    EXPECT_NE(log.str().find("step 3: non-finite"), std::string::npos) << log.str();
  }
  setenv("MOESCOPE_TEST_NAN_STEPS", "4,5,6,7", 1);
  {
    Trainer t(s.config({"train.max_steps=20", "train.ckpt_every=2", "train.max_nonfinite=3"}), s.run("stop"), false,
              log);
    auto before = snapshot(t.model());
    auto r = t.run();
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.steps, 6);  // steps 4, 5, 6 (0-based) were poisoned; the third stops the run
    EXPECT_NE(log.str().find("3 consecutive non-finite steps"), std::string::npos);
    // The last good checkpoint (step 4) is intact and loadable.
    Transformer m(t.config().model);
    EXPECT_EQ(load_checkpoint(latest_dir(s.run("stop")), m, nullptr).step, 4);
  }
  unsetenv("MOESCOPE_TEST_NAN_STEPS");
}

TEST(Trainer, EvaluationIsDeterministic) {
  ScratchRun s("evaldet");
  std::ostringstream log;
  Trainer t(s.config({"train.max_steps=4"}), s.run("r"), false, log);
  t.run();
  auto a = evaluate(t.model(), t.data(), 4, 32, 0, torch::kCPU);
  auto b = evaluate(t.model(), t.data(), 3, 32, 0, torch::kCPU);  // batching must not matter beyond fp rounding
  auto c = evaluate(t.model(), t.data(), 4, 32, 0, torch::kCPU);
  EXPECT_EQ(a.loss, c.loss);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_NEAR(a.loss, b.loss, 1e-5);
  EXPECT_GT(a.tokens, 0);
}
