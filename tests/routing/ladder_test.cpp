// ladder_test.cpp: the remediation ladder's decisions on plain knobs (routing/ladder.h), the
// adapter-free half of scope/remediation.h: rung order, skipped rungs, bounds, the tuning
// branch, re-initialisation targets, and the replay that restores rung and cooldown.
#include <gtest/gtest.h>

#include "routing/ladder.h"

using namespace moescope;

namespace {
ScopeConfig cfg() {
  ScopeConfig c;
  c.remediate = true;
  c.cooldown = 1;
  return c;
}
}  // namespace

TEST(Ladder, RungsInOrderSkippingThoseWithNothingToDo) {
  Ladder l(cfg());
  RouterKnobs k;
  k.bias_balance = false;
  const auto m = load_metrics({82, 6, 6, 6});
  std::vector<std::string> actions;
  for (int i = 0; i < 5; ++i) {
    auto a = l.decide(1, true, k, m, 3.0, 0.8);
    ASSERT_TRUE(a);
    actions.push_back(a->action);
    k.set(a->knob, a->to);  // the adapter's part
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"bias_rate", "jitter", "seq_aux_loss", "z_loss", "bias_rate"}));
  EXPECT_DOUBLE_EQ(k.bias_update_rate, 0.004);
}

TEST(Ladder, ReinitNamesTheStarvedExpertsAndTheBusiestAsSource) {
  ScopeConfig c = cfg();
  c.max_bias_update_rate = 0.001, c.max_jitter_eps = 0.01, c.max_seq_aux_loss_alpha = 1e-3, c.max_z_loss_beta = 1e-3;
  Ladder l(c);
  RouterKnobs k;
  k.set(Knob::kBiasRate, 0.001), k.set(Knob::kJitterEps, 0.01), k.set(Knob::kSeqAuxAlpha, 1e-3),
      k.set(Knob::kZLossBeta, 1e-3);
  auto a = l.decide(2, true, k, load_metrics({0, 500, 1, 499}), 2.0, 0.8);  // every knob at its bound
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->reinit);
  EXPECT_EQ(a->experts, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(a->from_expert, 1);
  const auto ev = a->event(40, 2);
  EXPECT_EQ(ev["action"], "reinit_dead_experts");
  EXPECT_EQ(ev["type"], "remediation");
}

TEST(Ladder, TuningBranchHalvesOnOscillationAndRespectsCooldown) {
  ScopeConfig c = cfg();
  c.cooldown = 2;
  Ladder l(c);
  RouterKnobs k;
  k.set(Knob::kBiasRate, 0.002);
  auto a = l.decide(1, false, k, load_metrics({26, 25, 25, 24}), 3.0, 0.8);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->action, "bias_rate_tune");
  EXPECT_EQ(a->reason, "oscillation");
  EXPECT_DOUBLE_EQ(a->to, 0.001);
  EXPECT_FALSE(l.decide(1, false, k, load_metrics({26, 25, 25, 24}), 3.0, 0.8));  // cooling down
}

TEST(Ladder, ReplayRestoresRungAndReturnsTheLoggedValues) {
  Ladder live(cfg()), replayed(cfg());
  RouterKnobs k;
  k.bias_balance = false;
  const auto m = load_metrics({82, 6, 6, 6});
  for (int i = 0; i < 2; ++i) {
    auto a = live.decide(1, true, k, m, 3.0, 0.8);
    k.set(a->knob, a->to);
    auto knobs = replayed.replay_interval(1, {a->event(i, 1)}, true);
    ASSERT_EQ(knobs.size(), 1u);
    EXPECT_DOUBLE_EQ(knobs[0].second, a->to);
  }
  EXPECT_EQ(live.decide(1, true, k, m, 3.0, 0.8)->action, replayed.decide(1, true, k, m, 3.0, 0.8)->action);
  EXPECT_THROW(replayed.replay_interval(1, {nlohmann::json{{"action", "teleport"}}}, true), std::runtime_error);
}
