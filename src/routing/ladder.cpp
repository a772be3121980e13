// ladder.cpp: see ladder.h. The ladder is the kLadder table.
#include "routing/ladder.h"

#include <algorithm>
#include <stdexcept>

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

constexpr Rung kLadder[Ladder::kRungs] = {
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

// The rung's action for this interval, if it has something to do.
std::optional<LadderAction> rung_action(const Rung& r, const RouterKnobs& k, const LoadMetrics& m,
                                        const ScopeConfig& cfg) {
  LadderAction a;
  a.action = r.action;
  if (r.kind == RungKind::kReinit) {
    // Starved experts (dead ones included); the action keeps its name so older run logs replay.
    a.reinit = true;
    a.experts = starved_experts(m, cfg.starved_ratio);
    a.from_expert = m.argmax;
    if (a.experts.empty() || m.argmax < 0) return std::nullopt;
    return a;
  }
  a.knob = r.knob;
  a.from = k.get(r.knob);
  a.to = next_value(r, k, cfg);
  if (a.to == a.from) return std::nullopt;
  return a;
}

}  // namespace

nlohmann::json LadderAction::event(int64_t step, int64_t layer) const {
  namespace f = log_field;
  nlohmann::json ev{
      {f::kSchema, 1}, {f::kType, f::kRemediation}, {f::kStep, step}, {f::kLayer, layer}, {f::kAction, action}};
  if (reinit) {
    ev.update({{"experts", experts}, {"from_expert", from_expert}});
    return ev;
  }
  ev[f::kFrom] = from;
  ev[f::kTo] = to;
  if (!reason.empty()) ev[f::kReason] = reason;
  return ev;
}

bool ladder_unhealthy(const CollapseDetector& d, int64_t L, bool bias_balance, const ScopeConfig& cfg) {
  return d.collapsed(L) || d.streak(L, "starved_experts") >= cfg.window ||
         d.streak(L, "high_drop_rate") >= cfg.window || (!bias_balance && d.streak(L, "high_maxvio") >= cfg.window);
}

std::optional<LadderAction> Ladder::decide(int64_t layer, bool unhealthy, const RouterKnobs& k, const LoadMetrics& m,
                                           double maxvio_batch, double router_entropy) {
  auto& s = st_[layer];
  if (s.cooldown > 0) --s.cooldown;
  if (s.cooldown > 0) return std::nullopt;
  if (!unhealthy) {
    if (!k.bias_balance || !(maxvio_batch > cfg_.maxvio_ceiling)) return std::nullopt;
    const bool imbalanced = m.maxvio > cfg_.maxvio_ceiling;
    // The first that applies (scope/remediation.h): cool a raised router lr, de-saturate the
    // router, tune the bias rate.
    const Rung& lr = kLadder[kRouterLrRung];
    const Rung& z = kLadder[kZLossRung];
    const bool saturated = router_entropy < cfg_.saturated_router_entropy;
    LadderAction a;
    a.action = "bias_rate_tune";
    a.knob = Knob::kBiasRate;
    a.from = k.bias_update_rate;
    a.to = imbalanced ? std::min(a.from * 2, cfg_.max_bias_update_rate) : std::max(a.from / 2, kMinBiasRate);
    if (next_value(lr, k, cfg_) < k.get(lr.knob)) {
      a.action = lr.action, a.knob = lr.knob, a.from = k.get(a.knob), a.to = next_value(lr, k, cfg_);
    } else if (saturated && next_value(z, k, cfg_) > k.get(z.knob)) {
      a.action = z.action, a.knob = z.knob, a.from = k.get(a.knob), a.to = next_value(z, k, cfg_);
    }
    if (a.to == a.from) return std::nullopt;
    s.cooldown = cfg_.cooldown;
    a.reason = a.knob == Knob::kZLossBeta ? "saturated" : imbalanced ? "imbalance" : "oscillation";
    return a;
  }
  for (int tries = 0; tries < kRungs; ++tries) {
    const int rung = s.next_rung;
    s.next_rung = (s.next_rung + 1) % kRungs;
    if (auto a = rung_action(kLadder[rung], k, m, cfg_)) {
      s.cooldown = cfg_.cooldown;
      return a;
    }
  }
  return std::nullopt;
}

std::vector<std::pair<Knob, double>> Ladder::replay_interval(int64_t layer, const std::vector<nlohmann::json>& events,
                                                             bool knob_values) {
  std::vector<std::pair<Knob, double>> knobs;
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
                               std::to_string(ev.value(log_field::kStep, int64_t{-1})) +
                               " (written by a newer moescope?)");
    // reinit: the checkpoint holds the weights.
    if (knob_values && r->kind != RungKind::kReinit) knobs.emplace_back(r->knob, ev.at(log_field::kTo).get<double>());
    if (!tuning) s.next_rung = static_cast<int>((r - kLadder + 1) % kRungs);
  }
  return knobs;
}

}  // namespace moescope
