// detector.cpp: see detector.h.
#include "routing/detector.h"

#include <algorithm>
#include <stdexcept>

namespace moescope {
namespace {
enum Level { kNone = 0, kWarning = 1, kCritical = 2 };

// The critical rules that make a routing collapse (high_drop_rate makes `dropping` instead).
bool is_collapse_rule(const std::string& rule) {
  return rule == "low_entropy" || rule == "low_neff" || rule == "dominant_expert" || rule == "starved_experts";
}

std::string fix_for(const std::string& rule) {
  if (rule == "starved_experts")
    return "raise moe.bias_update_rate or enable moe.seq_aux_loss_alpha; scope.remediate=true does this and "
           "re-initialises the starved experts";
  if (rule == "high_drop_rate")
    return "capacity drops, not a routing collapse: raise moe.capacity_factor (0 = dropless) or balance the load "
           "(moe.bias_update_rate, moe.seq_aux_loss_alpha; "
           "scope.remediate=true raises those, not the capacity)";
  if (rule == "high_maxvio") return "raise moe.bias_update_rate or enable moe.seq_aux_loss_alpha";
  if (rule == "entropy_trend")
    return "watch this layer; consider moe.bias_update_rate or router jitter before it collapses";
  if (rule == "recovered") return "none needed";
  return "enable or raise balancing: moe.bias_balance=true with a higher moe.bias_update_rate, router jitter, or "
         "moe.seq_aux_loss_alpha (scope.remediate=true does this automatically)";
}
}  // namespace

nlohmann::json Alert::to_json() const {
  return {{"schema", 1},  {"step", step},         {"layer", layer},           {"experts", experts},
          {"rule", rule}, {"severity", severity}, {"began_step", began_step}, {"evidence", evidence},
          {"fix", fix}};
}

CollapseDetector::Hysteresis::Change CollapseDetector::Hysteresis::update(bool holds, int64_t step, int64_t window,
                                                                          int64_t exit_window) {
  if (holds) {
    if (run++ == 0) run_began = step;
    calm = 0;
  } else {
    run = 0;
    ++calm;
  }
  if (!on && run >= window) {
    on = true;
    began = run_began;
    return Change::kEntered;
  }
  if (on && calm >= exit_window) {
    on = false;
    began = -1;
    return Change::kLeft;
  }
  return Change::kNone;
}

std::vector<Alert> CollapseDetector::observe(int64_t step, int64_t layer, const LoadMetrics& m,
                                             const IntervalSignals& sig) {
  auto& st = layers_[layer];
  const int64_t E = static_cast<int64_t>(m.load.size());
  // The load rules judge only an interval with enough slots per expert (docs/metrics.md).
  const bool judged = load_judged(m, cfg_.min_expert_slots);
  const auto starved = judged ? starved_experts(m, cfg_.starved_ratio) : std::vector<int64_t>{};
  const int64_t n_starved = static_cast<int64_t>(starved.size());
  const double dominant_at = dominant_token_share(cfg_.max_share, m.top_k, E);
  const double imbalanced_at = imbalanced_token_share(cfg_.dominance, cfg_.max_share, m.top_k, E);
  const int64_t starved_crit = starved_critical_count(cfg_.starved_experts, cfg_.starved_fraction, E);
  auto level = [](bool crit, bool warn) { return crit ? kCritical : warn ? kWarning : kNone; };
  std::map<std::string, std::pair<Level, std::vector<int64_t>>> holds = {
      {"low_entropy", {level(judged && m.entropy_norm < cfg_.entropy_floor, false), {}}},
      {"dominant_expert",
       {level(judged && m.max_token_share > dominant_at, judged && m.max_token_share > imbalanced_at), {m.argmax}}},
      {"low_neff", {level(judged && m.n_eff < cfg_.neff_fraction * static_cast<double>(E), false), {}}},
      {"starved_experts", {level(n_starved >= starved_crit, n_starved > 0), starved}},
      {"high_drop_rate", {level(sig.drop_rate > cfg_.drop_critical, sig.drop_rate > cfg_.drop_warning), {}}},
      {"high_maxvio", {level(false, sig.maxvio_batch > cfg_.maxvio_ceiling), {m.argmax}}},
  };
  nlohmann::json evidence = {{"entropy_norm", m.entropy_norm},
                             {"n_eff", m.n_eff},
                             {"max_share", m.max_share},
                             {"max_token_share", m.max_token_share},
                             {"busiest_expert", m.argmax},
                             {"maxvio_batch", sig.maxvio_batch},
                             {"drop_rate", sig.drop_rate},
                             {"dead", m.dead},
                             {"starved", starved}};
  std::vector<Alert> out;
  auto alert = [&](const std::string& rule, const char* severity, int64_t began, std::vector<int64_t> experts) {
    out.push_back(Alert{step, layer, std::move(experts), rule, severity, began, evidence, fix_for(rule)});
  };
  bool any_crit = false, crit_streak_at_w = false, drop_crit = false;
  std::vector<std::string> crit_rules;
  for (auto& [rule, h] : holds) {
    auto& s = st.streaks[rule];
    const Level lv = h.first;
    if (lv == kNone) {
      s = Streak{};
      continue;
    }
    if (s.len++ == 0) s.began = step;
    s.experts = h.second;
    const bool collapse_rule = is_collapse_rule(rule);
    if (lv == kCritical) {
      if (collapse_rule) {
        any_crit = true;
        crit_rules.push_back(rule);
      } else if (rule == "high_drop_rate") {
        drop_crit = true;
      }
      if (s.crit_len++ == 0) s.crit_began = step;
    } else {
      s.crit_len = 0;
      s.crit_fired = false;
    }
    if (collapse_rule && s.crit_len >= cfg_.window) crit_streak_at_w = true;
    if (s.crit_len >= cfg_.window && !s.crit_fired) {
      s.crit_fired = s.fired = true;
      alert(rule, "critical", s.crit_began, s.experts);
    } else if (lv == kWarning && s.len >= cfg_.window && !s.fired) {
      s.fired = true;
      alert(rule, "warning", s.began, s.experts);
    }
  }
  // Layer-level collapse with hysteresis.
  switch (st.collapse.update(any_crit, step, cfg_.window, cfg_.exit_window)) {
    case Hysteresis::Change::kEntered:
      if (!crit_streak_at_w) {
        alert("collapse", "critical", st.collapse.began, {});
        out.back().evidence["rules"] = crit_rules;
      }
      break;
    case Hysteresis::Change::kLeft:
      alert("recovered", "info", step, {});
      out.back().evidence["status"] = "collapsed";
      break;
    case Hysteresis::Change::kNone: break;
  }
  // Capacity dropping, the same hysteresis on its own (never a collapse).
  if (st.dropping.update(drop_crit, step, cfg_.window, cfg_.exit_window) == Hysteresis::Change::kLeft) {
    alert("recovered", "info", step, {});
    out.back().evidence["status"] = "dropping";
  }
  // Early warning: a falling entropy trend while not collapsed.
  st.entropy_hist.push_back(m.entropy_norm);
  if (static_cast<int64_t>(st.entropy_hist.size()) > cfg_.trend_window) st.entropy_hist.erase(st.entropy_hist.begin());
  const double slope = trend_slope(st.entropy_hist);
  if (!st.collapse.on && static_cast<int64_t>(st.entropy_hist.size()) == cfg_.trend_window &&
      slope < cfg_.trend_slope) {
    if (!st.trend_warned) {
      alert("entropy_trend", "warning", step, {});
      out.back().evidence["slope_per_interval"] = slope;
      st.trend_warned = true;
    }
  } else if (slope >= cfg_.trend_slope) {
    st.trend_warned = false;
  }
  return out;
}

std::string CollapseDetector::status(int64_t layer) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return "ok";
  const auto& st = it->second;
  if (st.collapse.on) return "collapsed";
  if (st.dropping.on) return "dropping";
  auto dom = st.streaks.find("dominant_expert");
  if (dom != st.streaks.end() && dom->second.len >= cfg_.window) return "imbalanced";
  bool warn = st.trend_warned || st.collapse.run > 0 || st.dropping.run > 0;
  for (auto& [rule, s] : st.streaks)
    if (s.len >= cfg_.window) warn = true;
  return warn ? "warning" : "ok";
}

int status_level(const std::string& status) {
  for (int i = 0; i < static_cast<int>(kStatuses.size()); ++i)
    if (status == kStatuses[static_cast<size_t>(i)]) return i;
  throw std::invalid_argument("unknown layer status '" + status +
                              "' (known: ok, warning, imbalanced, dropping, collapsed)");
}

bool CollapseDetector::dropping(int64_t layer) const {
  auto it = layers_.find(layer);
  return it != layers_.end() && it->second.dropping.on;
}

int64_t CollapseDetector::collapse_began(int64_t layer) const {
  auto it = layers_.find(layer);
  return it == layers_.end() ? -1 : it->second.collapse.began;
}

int64_t CollapseDetector::streak(int64_t layer, const std::string& rule) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return 0;
  auto s = it->second.streaks.find(rule);
  return s == it->second.streaks.end() ? 0 : s->second.len;
}

}  // namespace moescope
