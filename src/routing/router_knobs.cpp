// router_knobs.cpp: see router_knobs.h.
#include "routing/router_knobs.h"

#include <stdexcept>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace moescope {

RouterKnobs RouterKnobs::from_config(const MoEConfig& m, double router_lr_mult) {
  RouterKnobs k;
#define MOESCOPE_KNOB_FROM_CONFIG(name) k.name = m.name;
  MOESCOPE_ROUTER_MOE_KNOBS(MOESCOPE_KNOB_FROM_CONFIG)
#undef MOESCOPE_KNOB_FROM_CONFIG
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
  nlohmann::json j = nlohmann::json::object();
  visit([&](const char* name, const auto& value) {
    if constexpr (std::is_enum_v<std::decay_t<decltype(value)>>) {
      j[name] = enum_name(value);
    } else {
      j[name] = value;
    }
  });
  return j;
}

RouterKnobs RouterKnobs::from_json(const nlohmann::json& j, const std::string& where) {
  RouterKnobs k;
  try {
    k.visit([&](const char* name, auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_enum_v<T>) {
        value = parse_enum_or_throw<T>(where + ": router knob " + name, j.at(name).get<std::string>());
      } else {
        value = j.at(name).get<T>();
      }
    });
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": malformed router knobs: " + e.what());
  }
  return k;
}

// Field by field through the one list (exact comparison of the values, as JSON numbers keep them).
bool RouterKnobs::operator==(const RouterKnobs& o) const { return to_json() == o.to_json(); }

}  // namespace moescope
