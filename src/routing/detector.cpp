// detector.cpp: see detector.h.
#include "routing/detector.h"

#include <algorithm>

namespace moescope {
namespace {
enum Level { kNone = 0, kWarning = 1, kCritical = 2 };

std::string fix_for(const std::string& rule) {
  if (rule == "starved_experts")
    return "raise moe.bias_update_rate or enable moe.seq_aux_loss_alpha; scope.remediate=true does this and "
           "re-initialises the starved experts";
  if (rule == "high_drop_rate")
    return "raise moe.capacity_factor (0 = dropless) or balance the load (moe.bias_update_rate, moe.seq_aux_loss_alpha; "
           "scope.remediate=true raises those, not the capacity)";
  if (rule == "high_maxvio") return "raise moe.bias_update_rate or enable moe.seq_aux_loss_alpha";
  if (rule == "entropy_trend") return "watch this layer; consider moe.bias_update_rate or router jitter before it collapses";
  if (rule == "recovered") return "none needed";
  return "enable or raise balancing: moe.bias_balance=true with a higher moe.bias_update_rate, router jitter, or "
         "moe.seq_aux_loss_alpha (scope.remediate=true does this automatically)";
}
}  // namespace

nlohmann::json Alert::to_json() const {
  return {{"schema", 1}, {"step", step}, {"layer", layer}, {"experts", experts}, {"rule", rule},
          {"severity", severity}, {"began_step", began_step}, {"evidence", evidence}, {"fix", fix}};
}

std::vector<Alert> CollapseDetector::observe(int64_t step, int64_t layer, const LoadMetrics& m,
                                             const IntervalSignals& sig) {
  auto& st = layers_[layer];
  const double E = static_cast<double>(m.load.size());
  const bool any = m.total > 0;
  const auto starved = starved_experts(m, cfg_.starved_share);
  const int64_t n_starved = static_cast<int64_t>(starved.size());
  const double dominant_at = dominant_token_share(cfg_.max_share, m.top_k, static_cast<int64_t>(m.load.size()));
  const int64_t starved_crit = starved_critical_count(cfg_.starved_experts, cfg_.starved_fraction, static_cast<int64_t>(m.load.size()));
  auto level = [](bool crit, bool warn) { return crit ? kCritical : warn ? kWarning : kNone; };
  std::map<std::string, std::pair<Level, std::vector<int64_t>>> holds = {
      {"low_entropy", {level(any && m.entropy_norm < cfg_.entropy_floor, false), {}}},
      {"dominant_expert", {level(any && m.max_token_share > dominant_at, false), {m.argmax}}},
      {"low_neff", {level(any && m.n_eff < cfg_.neff_fraction * E, false), {}}},
      {"starved_experts", {level(n_starved >= starved_crit, n_starved > 0), starved}},
      {"high_drop_rate", {level(sig.drop_rate > cfg_.drop_critical, sig.drop_rate > cfg_.drop_warning), {}}},
      {"high_maxvio", {level(false, sig.maxvio_batch > cfg_.maxvio_ceiling), {m.argmax}}},
  };
  nlohmann::json evidence = {{"entropy_norm", m.entropy_norm}, {"n_eff", m.n_eff}, {"max_share", m.max_share},
                             {"max_token_share", m.max_token_share}, {"busiest_expert", m.argmax},
                             {"maxvio_batch", sig.maxvio_batch}, {"drop_rate", sig.drop_rate},
                             {"dead", m.dead}, {"starved", starved}};
  std::vector<Alert> out;
  auto alert = [&](const std::string& rule, const char* severity, int64_t began, std::vector<int64_t> experts) {
    out.push_back(Alert{step, layer, std::move(experts), rule, severity, began, evidence, fix_for(rule)});
  };
  bool any_crit = false, crit_streak_at_w = false;
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
    if (lv == kCritical) {
      any_crit = true;
      crit_rules.push_back(rule);
      if (s.crit_len++ == 0) s.crit_began = step;
    } else {
      s.crit_len = 0;
      s.crit_fired = false;
    }
    if (s.crit_len >= cfg_.window) crit_streak_at_w = true;
    if (s.crit_len >= cfg_.window && !s.crit_fired) {
      s.crit_fired = s.fired = true;
      alert(rule, "critical", s.crit_began, s.experts);
    } else if (lv == kWarning && s.len >= cfg_.window && !s.fired) {
      s.fired = true;
      alert(rule, "warning", s.began, s.experts);
    }
  }
  // Layer-level collapse with hysteresis.
  if (any_crit) {
    if (st.crit_run++ == 0) st.crit_run_began = step;
    st.calm_run = 0;
  } else {
    st.crit_run = 0;
    ++st.calm_run;
  }
  if (!st.collapsed && st.crit_run >= cfg_.window) {
    st.collapsed = true;
    st.collapse_began = st.crit_run_began;
    if (!crit_streak_at_w) {
      alert("collapse", "critical", st.crit_run_began, {});
      out.back().evidence["rules"] = crit_rules;
    }
  } else if (st.collapsed && st.calm_run >= cfg_.exit_window) {
    st.collapsed = false;
    st.collapse_began = -1;
    alert("recovered", "info", step, {});
  }
  // Early warning: a falling entropy trend while not collapsed.
  st.entropy_hist.push_back(m.entropy_norm);
  if (static_cast<int64_t>(st.entropy_hist.size()) > cfg_.trend_window) st.entropy_hist.erase(st.entropy_hist.begin());
  const double slope = trend_slope(st.entropy_hist);
  if (!st.collapsed && static_cast<int64_t>(st.entropy_hist.size()) == cfg_.trend_window && slope < cfg_.trend_slope) {
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
  if (st.collapsed) return "collapsed";
  bool warn = st.trend_warned || st.crit_run > 0;
  for (auto& [rule, s] : st.streaks)
    if (s.len >= cfg_.window) warn = true;
  return warn ? "warning" : "ok";
}

int64_t CollapseDetector::collapse_began(int64_t layer) const {
  auto it = layers_.find(layer);
  return it == layers_.end() ? -1 : it->second.collapse_began;
}

int64_t CollapseDetector::streak(int64_t layer, const std::string& rule) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return 0;
  auto s = it->second.streaks.find(rule);
  return s == it->second.streaks.end() ? 0 : s->second.len;
}

}  // namespace moescope
