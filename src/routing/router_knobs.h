// router_knobs.h: the live balancing state of one router, its one owner (RouterImpl).
// It starts from the config (moe.* and train.router_lr_mult), may be changed while training
// only through set() (the microscope's remediation ladder), and is saved in the trainer state
// of every checkpoint, so a resumed run continues with the values it had, not the config's.
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/config.h"

namespace moescope {

// The adjustable knobs, by name (remediation actions map onto these).
enum class Knob {
  kBiasRate,     // moe.bias_update_rate; setting it also turns the bias balancing on
  kJitterEps,    // moe.jitter_eps; setting it also switches the jitter to "input"
  kSeqAuxAlpha,  // moe.seq_aux_loss_alpha
  kZLossBeta,    // moe.z_loss_beta
  kLrMult,       // train.router_lr_mult: the router weight's learning-rate multiplier
};

struct RouterKnobs {
  bool bias_balance = true;
  double bias_update_rate = 0.001;
  Jitter jitter = Jitter::kNone;
  double jitter_eps = 0.0;
  double seq_aux_loss_alpha = 0.0;
  double z_loss_beta = 0.0;
  double lr_mult = 1.0;

  static RouterKnobs from_config(const MoEConfig& moe, double router_lr_mult = 1.0);
  double get(Knob k) const;
  void set(Knob k, double value);
  // {"bias_balance", "bias_update_rate", "jitter", "jitter_eps", "seq_aux_loss_alpha",
  //  "z_loss_beta", "lr_mult"}; from_json throws naming `where` on a missing or bad field.
  nlohmann::json to_json() const;
  static RouterKnobs from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const RouterKnobs& o) const;
};

}  // namespace moescope
