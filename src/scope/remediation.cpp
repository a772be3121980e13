// remediation.cpp: see remediation.h. The ladder is the kLadder table; every knob change goes
// through RouterImpl::set_knob.
#include "scope/remediation.h"

#include <algorithm>
#include <stdexcept>

#include "model/param_names.h"
#include "run/log_fields.h"

namespace moescope {
namespace {

enum class RungKind { kRaise, kCool, kReinit };

// One rung: which router knob it moves and how. A raising rung sets an off knob to `first`
// (the bias rate: the configured rate when larger) and multiplies an on one by `factor`, up to
// the ScopeConfig bound; the cooling rung divides by 1/factor down to `first`.
struct Rung {
  const char* action;
  RungKind kind;
  Knob knob;
  double factor;
  double first;
  double ScopeConfig::*bound;
};

constexpr Rung kLadder[Remediator::kRungs] = {
    {"bias_rate", RungKind::kRaise, Knob::kBiasRate, 4, 1e-3, &ScopeConfig::max_bias_update_rate},
    {"jitter", RungKind::kRaise, Knob::kJitterEps, 2, 0.01, &ScopeConfig::max_jitter_eps},
    {"seq_aux_loss", RungKind::kRaise, Knob::kSeqAuxAlpha, 4, 1e-3, &ScopeConfig::max_seq_aux_loss_alpha},
    {"z_loss", RungKind::kRaise, Knob::kZLossBeta, 4, 1e-3, &ScopeConfig::max_z_loss_beta},
    {"router_lr", RungKind::kCool, Knob::kLrMult, 0.25, kMinRouterLrMult, nullptr},
    {"reinit_dead_experts", RungKind::kReinit, Knob::kBiasRate, 0, 0, nullptr},
};
constexpr int kBiasRung = 0, kZLossRung = 3, kRouterLrRung = 4;

// The knob's value after the rung (equal to `from` when the rung has nothing left to do).
double next_value(const Rung& r, const RouterKnobs& k, const ScopeConfig& cfg) {
  const double from = k.get(r.knob);
  if (r.kind == RungKind::kCool) return from > r.first ? std::max(from * r.factor, r.first) : from;
  const double bound = cfg.*r.bound;
  double first = r.first;
  if (r.knob == Knob::kBiasRate) first = std::max(first, k.bias_update_rate);
  return std::max(from, std::min(from > 0 ? from * r.factor : first, bound));
}

// The knob a logged action set to its `to` value (bias_rate_tune is the bias rate's tuning).
const Rung* rung_of(const std::string& action) {
  for (const Rung& r : kLadder)
    if (action == r.action) return &r;
  return action == "bias_rate_tune" ? &kLadder[kBiasRung] : nullptr;
}

nlohmann::json event(int64_t step, int64_t layer, const std::string& action) {
  namespace f = log_field;
  return {{f::kSchema, 1}, {f::kType, f::kRemediation}, {f::kStep, step}, {f::kLayer, layer}, {f::kAction, action}};
}
nlohmann::json event(int64_t step, int64_t layer, const std::string& action, double from, double to) {
  auto ev = event(step, layer, action);
  ev[log_field::kFrom] = from;
  ev[log_field::kTo] = to;
  return ev;
}

}  // namespace

bool Remediator::apply_rung(int rung, int64_t step, int64_t layer, MoELayerImpl& moe, const LoadMetrics& m,
                            const OptimizerHooks& opt, std::vector<nlohmann::json>* events) {
  const Rung& r = kLadder[rung];
  if (r.kind == RungKind::kReinit) {
    // Starved experts (dead ones included); the action keeps its name so older run logs replay.
    const auto starved = starved_experts(m, cfg_.starved_share);
    if (starved.empty() || m.argmax < 0) return false;
    torch::NoGradGuard ng;
    auto* src = moe.experts[m.argmax]->as<SwiGLUMlpImpl>();
    for (int64_t e : starved) {
      auto* dst = moe.experts[e]->as<SwiGLUMlpImpl>();
      for (auto [d, s] : {std::pair{dst->gate_proj->weight, src->gate_proj->weight},
                          std::pair{dst->up_proj->weight, src->up_proj->weight},
                          std::pair{dst->down_proj->weight, src->down_proj->weight}})
        d.copy_(s + torch::randn_like(s) * (0.01 * s.std().item<double>()));
      moe.gate->bias[e] = 0.0;
      if (opt.reset_moments) opt.reset_moments(expert_prefix(layer, e));
    }
    auto ev = event(step, layer, r.action);
    ev.update({{"experts", starved}, {"from_expert", m.argmax}});
    events->push_back(ev);
    return true;
  }
  const double from = moe.gate->knobs().get(r.knob), to = next_value(r, moe.gate->knobs(), cfg_);
  if (to == from) return false;
  moe.gate->set_knob(r.knob, to);
  events->push_back(event(step, layer, r.action, from, to));
  return true;
}

std::vector<nlohmann::json> Remediator::act(int64_t step, int64_t layer, bool unhealthy, MoELayerImpl& moe,
                                            const LoadMetrics& m, double maxvio_batch, double router_entropy,
                                            const OptimizerHooks& opt) {
  std::vector<nlohmann::json> events;
  auto& s = st_[layer];
  if (s.cooldown > 0) --s.cooldown;
  if (s.cooldown > 0) return events;
  if (!unhealthy) {
    const RouterKnobs& k = moe.gate->knobs();
    if (!k.bias_balance || !(maxvio_batch > cfg_.maxvio_ceiling)) return events;
    const bool imbalanced = m.maxvio > cfg_.maxvio_ceiling;
    // The first that applies (remediation.h): cool a raised router lr, de-saturate the router,
    // tune the bias rate.
    const Rung& lr = kLadder[kRouterLrRung];
    const Rung& z = kLadder[kZLossRung];
    const bool saturated = router_entropy < cfg_.saturated_router_entropy;
    std::string action = "bias_rate_tune";
    Knob knob = Knob::kBiasRate;
    double from = k.bias_update_rate;
    double to = imbalanced ? std::min(from * 2, cfg_.max_bias_update_rate) : std::max(from / 2, kMinBiasRate);
    if (next_value(lr, k, cfg_) < k.get(lr.knob)) {
      action = lr.action, knob = lr.knob, from = k.get(knob), to = next_value(lr, k, cfg_);
    } else if (saturated && next_value(z, k, cfg_) > k.get(z.knob)) {
      action = z.action, knob = z.knob, from = k.get(knob), to = next_value(z, k, cfg_);
    }
    if (to == from) return events;
    moe.gate->set_knob(knob, to);
    s.cooldown = cfg_.cooldown;
    auto ev = event(step, layer, action, from, to);
    ev[log_field::kReason] = knob == Knob::kZLossBeta ? "saturated" : imbalanced ? "imbalance" : "oscillation";
    events.push_back(ev);
    return events;
  }
  for (int tries = 0; tries < kRungs; ++tries) {
    const int rung = s.next_rung;
    s.next_rung = (s.next_rung + 1) % kRungs;
    if (apply_rung(rung, step, layer, moe, m, opt, &events)) {
      s.cooldown = cfg_.cooldown;
      break;
    }
  }
  return events;
}

void Remediator::replay_interval(int64_t layer, const std::vector<nlohmann::json>& events, MoELayerImpl& moe,
                                 bool restore_knobs) {
  auto& s = st_[layer];
  if (s.cooldown > 0) --s.cooldown;
  for (const auto& ev : events) {
    const std::string action = ev.value(log_field::kAction, "");
    s.cooldown = cfg_.cooldown;
    // bias_rate_tune, and router_lr or z_loss with a reason, come from the tuning branch, not a
    // rung: they set their knob and leave the ladder's position unchanged.
    const bool tuning = action == "bias_rate_tune" || ev.contains(log_field::kReason);
    const Rung* r = rung_of(action);
    if (!r)
      throw std::runtime_error("run log: unknown remediation action '" + action + "' at step " +
                               std::to_string(ev.value(log_field::kStep, int64_t{-1})) + " (written by a newer moescope?)");
    // reinit: the checkpoint holds the weights.
    if (restore_knobs && r->kind != RungKind::kReinit) moe.gate->set_knob(r->knob, ev.at(log_field::kTo).get<double>());
    if (!tuning) s.next_rung = static_cast<int>((r - kLadder + 1) % kRungs);
  }
}

}  // namespace moescope
