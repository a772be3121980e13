// router_knobs_test.cpp: the router's live knobs (routing/router_knobs.h) come from the moe.* and
// train.* field list: defaults, from_config, the saved JSON (keys a checkpoint already holds),
// set/get rules and the error on a damaged record.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "routing/router_knobs.h"

using namespace moescope;

TEST(RouterKnobs, DefaultsAreTheConfigDefaults) {
  const RouterKnobs k;
  const MoEConfig moe;
  EXPECT_EQ(k, RouterKnobs::from_config(moe, TrainConfig{}.router_lr_mult));
  EXPECT_EQ(k.bias_balance, moe.bias_balance);
  EXPECT_EQ(k.bias_update_rate, moe.bias_update_rate);
  EXPECT_EQ(k.jitter, moe.jitter);
  EXPECT_EQ(k.lr_mult, TrainConfig{}.router_lr_mult);
}

TEST(RouterKnobs, FromConfigCopiesEveryKnob) {
  MoEConfig m;
  m.bias_balance = false;
  m.bias_update_rate = 0.25;
  m.jitter = Jitter::kLogits;
  m.jitter_eps = 0.5;
  m.seq_aux_loss_alpha = 0.125;
  m.z_loss_beta = 0.0625;
  const RouterKnobs k = RouterKnobs::from_config(m, 3.0);
  EXPECT_FALSE(k.bias_balance);
  EXPECT_EQ(k.bias_update_rate, 0.25);
  EXPECT_EQ(k.jitter, Jitter::kLogits);
  EXPECT_EQ(k.jitter_eps, 0.5);
  EXPECT_EQ(k.seq_aux_loss_alpha, 0.125);
  EXPECT_EQ(k.z_loss_beta, 0.0625);
  EXPECT_EQ(k.lr_mult, 3.0);
}

// The keys and spellings checkpoints written before the list existed hold (legacy_run_test reads one).
TEST(RouterKnobs, JsonKeepsTheSavedLayoutAndRoundTrips) {
  RouterKnobs k;
  k.set(Knob::kJitterEps, 0.05);
  k.set(Knob::kZLossBeta, 0.001);
  const nlohmann::json j = k.to_json();
  const nlohmann::json want = {{"bias_balance", true}, {"bias_update_rate", 0.001}, {"jitter", "input"},
                               {"jitter_eps", 0.05},   {"seq_aux_loss_alpha", 0.0}, {"z_loss_beta", 0.001},
                               {"lr_mult", 1.0}};
  EXPECT_EQ(j, want) << j.dump();
  EXPECT_EQ(RouterKnobs::from_json(j, "t"), k);
}

TEST(RouterKnobs, EqualitySeesEveryKnob) {
  const RouterKnobs base;
  for (const char* name :
       {"bias_balance", "bias_update_rate", "jitter", "jitter_eps", "seq_aux_loss_alpha", "z_loss_beta", "lr_mult"}) {
    nlohmann::json j = base.to_json();
    if (j[name].is_boolean()) j[name] = !j[name].get<bool>();
    else if (j[name].is_string()) j[name] = "logits";
    else j[name] = j[name].get<double>() + 0.5;
    EXPECT_FALSE(RouterKnobs::from_json(j, "t") == base) << name;
  }
}

TEST(RouterKnobs, DamagedRecordNamesWhere) {
  nlohmann::json j = RouterKnobs{}.to_json();
  j.erase("z_loss_beta");
  try {
    RouterKnobs::from_json(j, "ckpt/trainer_state.json");
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt/trainer_state.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("z_loss_beta"), std::string::npos) << e.what();
  }
  j = RouterKnobs{}.to_json();
  j["jitter"] = "sideways";
  EXPECT_THROW(RouterKnobs::from_json(j, "t"), std::exception);
}

TEST(RouterKnobs, SetTurnsTheMechanismOnAndGetReadsItsEffect) {
  RouterKnobs k;
  k.bias_balance = false;
  EXPECT_EQ(k.get(Knob::kBiasRate), 0.0);
  k.set(Knob::kBiasRate, 0.01);
  EXPECT_TRUE(k.bias_balance);
  EXPECT_EQ(k.get(Knob::kBiasRate), 0.01);
  EXPECT_EQ(k.get(Knob::kJitterEps), 0.0);  // jitter none
  k.set(Knob::kJitterEps, 0.02);
  EXPECT_EQ(k.jitter, Jitter::kInput);
  EXPECT_EQ(k.get(Knob::kJitterEps), 0.02);
  EXPECT_THROW(k.set(Knob::kLrMult, -1.0), std::invalid_argument);
}
