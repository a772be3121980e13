// router_knobs.cpp: see router_knobs.h.
#include "routing/router_knobs.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace moescope {

RouterKnobs RouterKnobs::from_config(const MoEConfig& m, double router_lr_mult) {
  RouterKnobs k;
  k.bias_balance = m.bias_balance;
  k.bias_update_rate = m.bias_update_rate;
  k.jitter = m.jitter;
  k.jitter_eps = m.jitter_eps;
  k.seq_aux_loss_alpha = m.seq_aux_loss_alpha;
  k.z_loss_beta = m.z_loss_beta;
  k.lr_mult = router_lr_mult;
  return k;
}

double RouterKnobs::get(Knob k) const {
  switch (k) {
    case Knob::kBiasRate: return bias_balance ? bias_update_rate : 0.0;
    case Knob::kJitterEps: return jitter == Jitter::kInput ? jitter_eps : 0.0;
    case Knob::kSeqAuxAlpha: return seq_aux_loss_alpha;
    case Knob::kZLossBeta: return z_loss_beta;
    case Knob::kLrMult: return lr_mult;
  }
  return 0.0;
}

void RouterKnobs::set(Knob k, double v) {
  if (!(v >= 0)) throw std::invalid_argument("router knob: value " + std::to_string(v) + " must be >= 0");
  switch (k) {
    case Knob::kBiasRate: bias_balance = true, bias_update_rate = v; break;
    case Knob::kJitterEps: jitter = Jitter::kInput, jitter_eps = v; break;
    case Knob::kSeqAuxAlpha: seq_aux_loss_alpha = v; break;
    case Knob::kZLossBeta: z_loss_beta = v; break;
    case Knob::kLrMult: lr_mult = v; break;
  }
}

nlohmann::json RouterKnobs::to_json() const {
  return {{"bias_balance", bias_balance}, {"bias_update_rate", bias_update_rate}, {"jitter", enum_name(jitter)},
          {"jitter_eps", jitter_eps}, {"seq_aux_loss_alpha", seq_aux_loss_alpha}, {"z_loss_beta", z_loss_beta},
          {"lr_mult", lr_mult}};
}

RouterKnobs RouterKnobs::from_json(const nlohmann::json& j, const std::string& where) {
  RouterKnobs k;
  try {
    k.bias_balance = j.at("bias_balance").get<bool>();
    k.bias_update_rate = j.at("bias_update_rate").get<double>();
    k.jitter = parse_enum_or_throw<Jitter>(where + ": router knob jitter", j.at("jitter").get<std::string>());
    k.jitter_eps = j.at("jitter_eps").get<double>();
    k.seq_aux_loss_alpha = j.at("seq_aux_loss_alpha").get<double>();
    k.z_loss_beta = j.at("z_loss_beta").get<double>();
    k.lr_mult = j.at("lr_mult").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": malformed router knobs: " + e.what());
  }
  return k;
}

bool RouterKnobs::operator==(const RouterKnobs& o) const {
  return bias_balance == o.bias_balance && bias_update_rate == o.bias_update_rate && jitter == o.jitter &&
         jitter_eps == o.jitter_eps && seq_aux_loss_alpha == o.seq_aux_loss_alpha && z_loss_beta == o.z_loss_beta &&
         lr_mult == o.lr_mult;
}

}  // namespace moescope
