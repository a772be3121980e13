// remediation_test.cpp: the ladder's rungs, bias-rate tuning (imbalance vs oscillation), and
// the replay of logged actions that a resumed run uses.
#include <map>

#include <gtest/gtest.h>

#include "model/moe.h"
#include "routing/metrics.h"
#include "scope/remediation.h"
#include "../test_util.h"

using namespace moescope;
using moescope::testing::tiny_config;

namespace {
ScopeConfig scope_cfg() {
  ScopeConfig c;
  c.remediate = true;
  c.cooldown = 1;  // act at every call, so each call shows one decision
  return c;
}
MoELayer layer_with(std::vector<std::string> sets) {
  auto cfg = tiny_config(sets).model;
  return MoELayer(cfg, cfg.n_layers);
}
const OptimizerHooks kNoOptimizer;    // no optimizer wired
constexpr double kUnsaturated = 0.8;  // mean per-token router entropy of a router that is not saturated

// The router's lr multiplier (a router knob; the trainer applies it to the optimizer).
void set_router_lr(MoELayer& moe, double m) { moe->gate->set_knob(Knob::kLrMult, m); }
double router_lr(MoELayer& moe) { return moe->gate->knobs().lr_mult; }
}  // namespace

TEST(Remediation, LadderEnablesBiasThenJitterThenSeqAuxThenZLossAndSkipsReinitWithoutDeadExperts) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=false"});
  auto m = load_metrics(
      {82, 6, 6, 6});  // collapsed-looking load, no starved expert (each at least a fifth of the fair share)
  std::vector<std::string> actions;
  for (int step = 1; step <= 5; ++step)
    for (auto& ev : r.act(step, 1, /*unhealthy=*/true, *moe, m, 3.0, kUnsaturated, kNoOptimizer))
      actions.push_back(ev["action"]);
  // router_lr is skipped (the router trains at the model's lr), reinit too (no dead expert).
  EXPECT_EQ(actions, (std::vector<std::string>{"bias_rate", "jitter", "seq_aux_loss", "z_loss", "bias_rate"}));
  EXPECT_DOUBLE_EQ(moe->gate->knobs().z_loss_beta, 1e-3);
  EXPECT_TRUE(moe->gate->knobs().bias_balance);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, 0.004);  // 0.001, then x4
  EXPECT_EQ(moe->gate->knobs().jitter, Jitter::kInput);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().seq_aux_loss_alpha, 1e-3);
}

TEST(Remediation, BiasRateRisesOnImbalanceAndFallsOnOscillation) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=true", "moe.bias_update_rate=0.002"});
  // Unbalanced over the interval (interval MaxVio 2.6 > 1): raise.
  auto ev = r.act(10, 1, false, *moe, load_metrics({90, 10, 20, 20}), 2.6, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["action"], "bias_rate_tune");
  EXPECT_EQ(ev[0]["reason"], "imbalance");
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, 0.004);
  // Balanced interval (MaxVio 0.04) but per-step MaxVio 3: oscillation, halve.
  ev = r.act(20, 1, false, *moe, load_metrics({26, 25, 25, 24}), 3.0, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["reason"], "oscillation");
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, 0.002);
  // Per-step MaxVio under the ceiling: nothing to do.
  EXPECT_TRUE(r.act(30, 1, false, *moe, load_metrics({26, 25, 25, 24}), 0.3, kUnsaturated, kNoOptimizer).empty());
  // Never below kMinBiasRate, never above the bound.
  for (int i = 0; i < 10; ++i)
    r.act(40 + i, 1, false, *moe, load_metrics({26, 25, 25, 24}), 3.0, kUnsaturated, kNoOptimizer);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, kMinBiasRate);
  for (int i = 0; i < 20; ++i)
    r.act(60 + i, 1, false, *moe, load_metrics({90, 10, 20, 20}), 3.0, kUnsaturated, kNoOptimizer);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, scope_cfg().max_bias_update_rate);
}

TEST(Remediation, ReplayRestoresKnobsRungAndCooldown) {
  ScopeConfig cfg = scope_cfg();
  cfg.cooldown = 2;
  auto m = load_metrics({82, 6, 6, 6});
  // Live: two actions (interval 1: bias_rate, interval 3: jitter), then interval 5 acts again.
  Remediator live(cfg);
  auto a = layer_with({"moe.bias_balance=false"});
  std::vector<std::vector<nlohmann::json>> logged;
  for (int step = 1; step <= 4; ++step)
    logged.push_back(live.act(step, 1, true, *a, m, 3.0, kUnsaturated, kNoOptimizer));
  // Replayed from the log into a fresh ladder and layer.
  Remediator replayed(cfg);
  auto b = layer_with({"moe.bias_balance=false"});
  for (auto& evs : logged) replayed.replay_interval(1, evs, *b, /*restore_knobs=*/true);
  EXPECT_EQ(b->gate->knobs().bias_balance, a->gate->knobs().bias_balance);
  EXPECT_DOUBLE_EQ(b->gate->knobs().bias_update_rate, a->gate->knobs().bias_update_rate);
  EXPECT_EQ(b->gate->knobs().jitter, a->gate->knobs().jitter);
  EXPECT_DOUBLE_EQ(b->gate->knobs().jitter_eps, a->gate->knobs().jitter_eps);
  auto next_live = live.act(5, 1, true, *a, m, 3.0, kUnsaturated, kNoOptimizer);
  auto next_replayed = replayed.act(5, 1, true, *b, m, 3.0, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(next_live.size(), 1u);
  EXPECT_EQ(next_live, next_replayed);  // the same rung (seq_aux_loss) at the same interval
  EXPECT_THROW(replayed.replay_interval(
                   1, std::vector<nlohmann::json>{nlohmann::json{{"action", "teleport"}, {"step", 6}}}, *b, true),
               std::runtime_error);
}

TEST(Remediation, LadderCoolsARaisedRouterLrAfterZLossAndNeverBelowTheModelLr) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=false"});
  set_router_lr(moe, 20.0);
  auto m = load_metrics({82, 6, 6, 6});
  std::vector<std::string> actions;
  for (int step = 1; step <= 10; ++step)
    for (auto& ev : r.act(step, 1, true, *moe, m, 3.0, kUnsaturated, kNoOptimizer)) actions.push_back(ev["action"]);
  // Rungs 1-5 twice (reinit is skipped: no starved expert).
  EXPECT_EQ(actions, (std::vector<std::string>{"bias_rate", "jitter", "seq_aux_loss", "z_loss", "router_lr",
                                               "bias_rate", "jitter", "seq_aux_loss", "z_loss", "router_lr"}));
  EXPECT_DOUBLE_EQ(router_lr(moe), 1.25);  // 20 / 4 / 4
  EXPECT_DOUBLE_EQ(moe->gate->knobs().z_loss_beta, 4e-3);
  for (int step = 11; step <= 40; ++step) r.act(step, 1, true, *moe, m, 3.0, kUnsaturated, kNoOptimizer);
  EXPECT_DOUBLE_EQ(router_lr(moe), kMinRouterLrMult);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().z_loss_beta, scope_cfg().max_z_loss_beta);
}

TEST(Remediation, SaturatedRouterGetsZLossBeforeTheBiasRateIsTouched) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=true", "moe.bias_update_rate=0.01"});
  set_router_lr(moe, 1.0);                                 // router at the model's lr
  const auto unbalanced = load_metrics({70, 10, 10, 10});  // interval MaxVio 1.8
  std::vector<std::string> got;
  for (int step = 1; step <= 4; ++step)
    for (auto& ev : r.act(step, 1, false, *moe, unbalanced, 4.5, /*router_entropy=*/0.04, kNoOptimizer))
      got.push_back(ev["action"].get<std::string>() + ":" + ev["reason"].get<std::string>() + ":" + ev["to"].dump());
  // 1e-3, x4, then the bound 1e-2; then the bias rate (already at its bound on imbalance): nothing.
  EXPECT_EQ(got,
            (std::vector<std::string>{"z_loss:saturated:0.001", "z_loss:saturated:0.004", "z_loss:saturated:0.01"}));
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, 0.01);
  // Not saturated: the bias rate is tuned (halved on a balanced interval).
  auto ev = r.act(5, 1, false, *moe, load_metrics({26, 25, 25, 24}), 4.5, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["action"], "bias_rate_tune");
}

TEST(Remediation, OscillationCoolsARaisedRouterLrBeforeTheBiasRate) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=true", "moe.bias_update_rate=0.002"});
  set_router_lr(moe, 8.0);
  const auto balanced = load_metrics({26, 25, 25, 24});
  std::vector<std::string> got;
  for (int step = 1; step <= 4; ++step)
    for (auto& ev : r.act(step, 1, false, *moe, balanced, 3.0, kUnsaturated, kNoOptimizer))
      got.push_back(ev["action"].get<std::string>() + ":" + ev["reason"].get<std::string>() + ":" + ev["to"].dump());
  // 8 -> 2 -> 1, then the router is at the model's lr and the bias rate is halved.
  EXPECT_EQ(got, (std::vector<std::string>{"router_lr:oscillation:2.0", "router_lr:oscillation:1.0",
                                           "bias_rate_tune:oscillation:0.001", "bias_rate_tune:oscillation:0.0005"}));
  // A raised router lr is cooled on an unbalanced interval too, before the bias rate is raised.
  set_router_lr(moe, 8.0);
  auto ev = r.act(5, 1, false, *moe, load_metrics({90, 10, 20, 20}), 3.0, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["action"], "router_lr");
  EXPECT_EQ(ev[0]["reason"], "imbalance");
  EXPECT_DOUBLE_EQ(router_lr(moe), 2.0);
  EXPECT_DOUBLE_EQ(moe->gate->knobs().bias_update_rate, 0.0005);
}

TEST(Remediation, ReplayRestoresTheRouterLrWithoutMovingTheLadder) {
  ScopeConfig cfg = scope_cfg();
  auto moe = layer_with({"moe.bias_balance=false"});
  set_router_lr(moe, 30.0);
  Remediator replayed(cfg);
  // A tuning-branch router_lr (with a reason), then a ladder rung.
  replayed.replay_interval(
      1, {{{"action", "router_lr"}, {"from", 30.0}, {"to", 7.5}, {"reason", "oscillation"}, {"step", 10}}}, *moe, true);
  EXPECT_DOUBLE_EQ(router_lr(moe), 7.5);
  replayed.replay_interval(1, {{{"action", "bias_rate"}, {"from", 0.0}, {"to", 0.001}, {"step", 20}}}, *moe, true);
  // The ladder continues at rung 2 (jitter): the tuning action did not advance it.
  auto next = replayed.act(30, 1, true, *moe, load_metrics({82, 6, 6, 6}), 3.0, kUnsaturated, kNoOptimizer);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["action"], "jitter");
  // A checkpoint that holds the knobs: the replay moves the ladder but leaves the knobs alone.
  replayed.replay_interval(1, {{{"action", "router_lr"}, {"to", 2.0}, {"step", 40}}}, *moe, /*restore_knobs=*/false);
  EXPECT_DOUBLE_EQ(router_lr(moe), 7.5);
}
