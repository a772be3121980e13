// remediation_test.cpp: the ladder's rungs, bias-rate tuning (imbalance vs oscillation), and
// the replay of logged actions that a resumed run uses.
#include <gtest/gtest.h>

#include "model/moe.h"
#include "scope/metrics.h"
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
const Remediator::ResetFn kNoReset = [](const std::string&) {};
}  // namespace

TEST(Remediation, LadderEnablesBiasThenJitterThenSeqAuxAndSkipsReinitWithoutDeadExperts) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=false"});
  auto m = load_metrics({90, 5, 3, 2});  // collapsed-looking load, no dead expert
  std::vector<std::string> actions;
  for (int step = 1; step <= 4; ++step)
    for (auto& ev : r.act(step, 1, /*unhealthy=*/true, *moe, m, 3.0, kNoReset)) actions.push_back(ev["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"bias_rate", "jitter", "seq_aux_loss", "bias_rate"}));
  EXPECT_TRUE(moe->gate->cfg().bias_balance);
  EXPECT_DOUBLE_EQ(moe->gate->cfg().bias_update_rate, 0.004);  // 0.001, then x4
  EXPECT_EQ(moe->gate->cfg().jitter, "input");
  EXPECT_DOUBLE_EQ(moe->gate->cfg().seq_aux_loss_alpha, 1e-3);
}

TEST(Remediation, BiasRateRisesOnImbalanceAndFallsOnOscillation) {
  Remediator r(scope_cfg());
  auto moe = layer_with({"moe.bias_balance=true", "moe.bias_update_rate=0.002"});
  // Unbalanced over the interval (interval MaxVio 2.6 > 1): raise.
  auto ev = r.act(10, 1, false, *moe, load_metrics({90, 10, 20, 20}), 2.6, kNoReset);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["action"], "bias_rate_tune");
  EXPECT_EQ(ev[0]["reason"], "imbalance");
  EXPECT_DOUBLE_EQ(moe->gate->cfg().bias_update_rate, 0.004);
  // Balanced interval (MaxVio 0.04) but per-step MaxVio 3: oscillation, halve.
  ev = r.act(20, 1, false, *moe, load_metrics({26, 25, 25, 24}), 3.0, kNoReset);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["reason"], "oscillation");
  EXPECT_DOUBLE_EQ(moe->gate->cfg().bias_update_rate, 0.002);
  // Per-step MaxVio under the ceiling: nothing to do.
  EXPECT_TRUE(r.act(30, 1, false, *moe, load_metrics({26, 25, 25, 24}), 0.3, kNoReset).empty());
  // Never below kMinBiasRate, never above the bound.
  for (int i = 0; i < 10; ++i) r.act(40 + i, 1, false, *moe, load_metrics({26, 25, 25, 24}), 3.0, kNoReset);
  EXPECT_DOUBLE_EQ(moe->gate->cfg().bias_update_rate, kMinBiasRate);
  for (int i = 0; i < 20; ++i) r.act(60 + i, 1, false, *moe, load_metrics({90, 10, 20, 20}), 3.0, kNoReset);
  EXPECT_DOUBLE_EQ(moe->gate->cfg().bias_update_rate, scope_cfg().max_bias_update_rate);
}

TEST(Remediation, ReplayRestoresKnobsRungAndCooldown) {
  ScopeConfig cfg = scope_cfg();
  cfg.cooldown = 2;
  auto m = load_metrics({90, 5, 3, 2});
  // Live: two actions (interval 1: bias_rate, interval 3: jitter), then interval 5 acts again.
  Remediator live(cfg);
  auto a = layer_with({"moe.bias_balance=false"});
  std::vector<std::vector<nlohmann::json>> logged;
  for (int step = 1; step <= 4; ++step) logged.push_back(live.act(step, 1, true, *a, m, 3.0, kNoReset));
  // Replayed from the log into a fresh ladder and layer.
  Remediator replayed(cfg);
  auto b = layer_with({"moe.bias_balance=false"});
  for (auto& evs : logged) replayed.replay_interval(1, evs, *b);
  EXPECT_EQ(b->gate->cfg().bias_balance, a->gate->cfg().bias_balance);
  EXPECT_DOUBLE_EQ(b->gate->cfg().bias_update_rate, a->gate->cfg().bias_update_rate);
  EXPECT_EQ(b->gate->cfg().jitter, a->gate->cfg().jitter);
  EXPECT_DOUBLE_EQ(b->gate->cfg().jitter_eps, a->gate->cfg().jitter_eps);
  auto next_live = live.act(5, 1, true, *a, m, 3.0, kNoReset);
  auto next_replayed = replayed.act(5, 1, true, *b, m, 3.0, kNoReset);
  ASSERT_EQ(next_live.size(), 1u);
  EXPECT_EQ(next_live, next_replayed);  // the same rung (seq_aux_loss) at the same interval
  EXPECT_THROW(replayed.replay_interval(1, std::vector<nlohmann::json>{nlohmann::json{{"action", "teleport"}, {"step", 6}}}, *b), std::runtime_error);
}
