// remediation.cpp: see remediation.h.
#include "scope/remediation.h"

#include <algorithm>
#include <stdexcept>

namespace moescope {
namespace {
// The router knob each logged action sets to its `to` value: the one place that says what an
// action means, shared by the live ladder and the replay of a resumed run.
void set_knob(const std::string& action, double to, int64_t layer, MoEConfig& c, const OptimizerKnobs& opt) {
  if (action == "router_lr") {
    if (!opt.set_lr_mult) throw std::runtime_error("remediation: router_lr needs the optimizer, which is not wired");
    opt.set_lr_mult(router_param_name(layer), to);
  } else if (action == "bias_rate" || action == "bias_rate_tune") {
    c.bias_balance = true;
    c.bias_update_rate = to;
  } else if (action == "jitter") {
    c.jitter = "input";
    c.jitter_eps = to;
  } else if (action == "seq_aux_loss") {
    c.seq_aux_loss_alpha = to;
  } else if (action == "z_loss") {
    c.z_loss_beta = to;
  } else {
    throw std::runtime_error("remediation: action '" + action + "' sets no router knob");
  }
}
// The layer's router lr multiplier; kMinRouterLrMult (nothing to cool) when no optimizer is wired.
double router_lr_of(const OptimizerKnobs& opt, int64_t layer) {
  return opt.lr_mult && opt.set_lr_mult ? opt.lr_mult(router_param_name(layer)) : kMinRouterLrMult;
}
// The cooled router lr multiplier, or `from` when the router already trains at the model's lr.
double cooled_router_lr(double from) { return from > kMinRouterLrMult ? std::max(from / 4, kMinRouterLrMult) : from; }
// The raised z-loss coefficient (1e-3 to start, then x4, bounded), or `from` at the bound.
double raised_z_loss(double from, double bound) { return std::max(from, std::min(from > 0 ? from * 4 : 1e-3, bound)); }

// Ladder order of the logged actions; -1 for one that is not a rung.
int rung_of(const std::string& action) {
  static const char* kOrder[Remediator::kRungs] = {"bias_rate", "jitter", "seq_aux_loss", "z_loss", "router_lr",
                                                   "reinit_dead_experts"};
  for (int i = 0; i < Remediator::kRungs; ++i)
    if (action == kOrder[i]) return i;
  return -1;
}
}  // namespace

std::string router_param_name(int64_t layer) { return "layers." + std::to_string(layer) + ".mlp.gate.weight"; }

bool Remediator::apply_rung(int rung, int64_t step, int64_t layer, MoELayerImpl& moe, const LoadMetrics& m,
                            const OptimizerKnobs& opt, std::vector<nlohmann::json>* events) {
  auto& c = moe.gate->mutable_cfg();
  nlohmann::json ev{{"schema", 1}, {"type", "remediation"}, {"step", step}, {"layer", layer}};
  switch (rung) {
    case 0: {
      const double from = c.bias_balance ? c.bias_update_rate : 0.0;
      double to = c.bias_balance ? std::min(c.bias_update_rate * 4, cfg_.max_bias_update_rate)
                                 : std::min(std::max(c.bias_update_rate, 0.001), cfg_.max_bias_update_rate);
      if (c.bias_balance && to <= c.bias_update_rate) return false;
      set_knob("bias_rate", to, layer, c, opt);
      ev.update({{"action", "bias_rate"}, {"from", from}, {"to", to}});
      break;
    }
    case 1: {
      const double from = c.jitter == "input" ? c.jitter_eps : 0.0;
      const double to = from > 0 ? std::min(from * 2, cfg_.max_jitter_eps) : std::min(0.01, cfg_.max_jitter_eps);
      if (to <= from) return false;
      set_knob("jitter", to, layer, c, opt);
      ev.update({{"action", "jitter"}, {"from", from}, {"to", to}});
      break;
    }
    case 2: {
      const double from = c.seq_aux_loss_alpha;
      const double to = from > 0 ? std::min(from * 4, cfg_.max_seq_aux_loss_alpha) : std::min(1e-3, cfg_.max_seq_aux_loss_alpha);
      if (to <= from) return false;
      set_knob("seq_aux_loss", to, layer, c, opt);
      ev.update({{"action", "seq_aux_loss"}, {"from", from}, {"to", to}});
      break;
    }
    case 3: {
      const double from = c.z_loss_beta, to = raised_z_loss(from, cfg_.max_z_loss_beta);
      if (to <= from) return false;
      set_knob("z_loss", to, layer, c, opt);
      ev.update({{"action", "z_loss"}, {"from", from}, {"to", to}});
      break;
    }
    case 4: {
      const double from = router_lr_of(opt, layer), to = cooled_router_lr(from);
      if (to >= from) return false;
      set_knob("router_lr", to, layer, c, opt);
      ev.update({{"action", "router_lr"}, {"from", from}, {"to", to}});
      break;
    }
    default: {
      if (m.dead.empty() || m.argmax < 0) return false;
      torch::NoGradGuard ng;
      auto* src = moe.experts[m.argmax]->as<SwiGLUMlpImpl>();
      for (int64_t e : m.dead) {
        auto* dst = moe.experts[e]->as<SwiGLUMlpImpl>();
        for (auto [d, s] : {std::pair{dst->gate_proj->weight, src->gate_proj->weight},
                            std::pair{dst->up_proj->weight, src->up_proj->weight},
                            std::pair{dst->down_proj->weight, src->down_proj->weight}})
          d.copy_(s + torch::randn_like(s) * (0.01 * s.std().item<double>()));
        moe.gate->bias[e] = 0.0;
        if (opt.reset_moments) opt.reset_moments("layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(e) + ".");
      }
      ev.update({{"action", "reinit_dead_experts"}, {"experts", m.dead}, {"from_expert", m.argmax}});
      break;
    }
  }
  events->push_back(ev);
  return true;
}

std::vector<nlohmann::json> Remediator::act(int64_t step, int64_t layer, bool unhealthy, MoELayerImpl& moe,
                                            const LoadMetrics& m, double maxvio_batch, double router_entropy,
                                            const OptimizerKnobs& opt) {
  std::vector<nlohmann::json> events;
  auto& s = st_[layer];
  if (s.cooldown > 0) --s.cooldown;
  if (s.cooldown > 0) return events;
  if (!unhealthy) {
    auto& c = moe.gate->mutable_cfg();
    if (!c.bias_balance || !(maxvio_batch > cfg_.maxvio_ceiling)) return events;
    const bool imbalanced = m.maxvio > cfg_.maxvio_ceiling;
    // The first that applies (remediation.h): cool a raised router lr, de-saturate the router,
    // tune the bias rate.
    const double lr_from = router_lr_of(opt, layer);
    const bool saturated = router_entropy < cfg_.saturated_router_entropy;
    std::string action = "bias_rate_tune";
    double from = c.bias_update_rate;
    double to = imbalanced ? std::min(from * 2, cfg_.max_bias_update_rate) : std::max(from / 2, kMinBiasRate);
    if (cooled_router_lr(lr_from) < lr_from) {
      action = "router_lr", from = lr_from, to = cooled_router_lr(lr_from);
    } else if (saturated && raised_z_loss(c.z_loss_beta, cfg_.max_z_loss_beta) > c.z_loss_beta) {
      action = "z_loss", from = c.z_loss_beta, to = raised_z_loss(from, cfg_.max_z_loss_beta);
    }
    if (to == from) return events;
    set_knob(action, to, layer, c, opt);
    s.cooldown = cfg_.cooldown;
    events.push_back({{"schema", 1}, {"type", "remediation"}, {"step", step}, {"layer", layer},
                      {"action", action}, {"from", from}, {"to", to},
                      {"reason", action == "z_loss" ? "saturated" : imbalanced ? "imbalance" : "oscillation"}});
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
                                 const OptimizerKnobs& opt) {
  auto& s = st_[layer];
  if (s.cooldown > 0) --s.cooldown;
  auto& c = moe.gate->mutable_cfg();
  for (const auto& ev : events) {
    const std::string action = ev.value("action", "");
    s.cooldown = cfg_.cooldown;
    // bias_rate_tune, and router_lr or z_loss with a reason, come from the tuning branch, not a
    // rung: they set their knob and leave the ladder's position unchanged.
    const bool tuning = action == "bias_rate_tune" || ev.contains("reason");
    const int rung = rung_of(action);
    if (!tuning && rung < 0)
      throw std::runtime_error("run log: unknown remediation action '" + action + "' at step " +
                               std::to_string(ev.value("step", int64_t{-1})) + " (written by a newer moescope?)");
    if (action != "reinit_dead_experts") set_knob(action, ev.at("to").get<double>(), layer, c, opt);  // reinit: the checkpoint holds the weights
    if (!tuning) s.next_rung = (rung + 1) % kRungs;
  }
}

}  // namespace moescope
