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

// The knobs that are moe.* fields: each member is the moe field of the same name, with the type
// and default that MOESCOPE_MOE_FIELDS (core/config.h) spells; lr_mult is train.router_lr_mult.
// A saved knob's JSON key is its member name.
#define MOESCOPE_ROUTER_MOE_KNOBS(K) \
  K(bias_balance) K(bias_update_rate) K(jitter) K(jitter_eps) K(seq_aux_loss_alpha) K(z_loss_beta)

struct RouterKnobs {
#define MOESCOPE_KNOB_MEMBER(name) decltype(MoEConfig::name) name = MoEConfig{}.name;
  MOESCOPE_ROUTER_MOE_KNOBS(MOESCOPE_KNOB_MEMBER)
#undef MOESCOPE_KNOB_MEMBER
  decltype(TrainConfig::router_lr_mult) lr_mult = TrainConfig{}.router_lr_mult;

  // v(name, member) for every knob, in the order above (lr_mult last).
  template <class V>
  void visit(V&& v) {
#define MOESCOPE_KNOB_VISIT(name) v(#name, name);
    MOESCOPE_ROUTER_MOE_KNOBS(MOESCOPE_KNOB_VISIT)
    v("lr_mult", lr_mult);
  }
  template <class V>
  void visit(V&& v) const {
    MOESCOPE_ROUTER_MOE_KNOBS(MOESCOPE_KNOB_VISIT)
#undef MOESCOPE_KNOB_VISIT
    v("lr_mult", lr_mult);
  }

  static RouterKnobs from_config(const MoEConfig& moe, double router_lr_mult = TrainConfig{}.router_lr_mult);
  double get(Knob k) const;
  void set(Knob k, double value);
  // {"bias_balance": .., "bias_update_rate": .., "jitter": "none", ...,  "lr_mult": ..};
  // from_json throws naming `where` on a missing or bad field.
  nlohmann::json to_json() const;
  static RouterKnobs from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const RouterKnobs& o) const;
};

}  // namespace moescope
