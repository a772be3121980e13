// detector.cpp: see detector.h.
#include "scope/detector.h"

#include <algorithm>

namespace moescope {
namespace {
bool is_critical(const std::string& rule) {
  return rule == "low_entropy" || rule == "dominant_expert" || rule == "low_neff";
}
std::string fix_for(const std::string& rule) {
  if (rule == "dead_experts") return "re-initialise the dead experts (scope.remediate=true) or raise moe.bias_update_rate";
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

std::vector<Alert> CollapseDetector::observe(int64_t step, int64_t layer, const LoadMetrics& m, double maxvio_batch) {
  auto& st = layers_[layer];
  const double E = static_cast<double>(m.load.size());
  std::map<std::string, std::pair<bool, std::vector<int64_t>>> holds = {
      {"low_entropy", {m.total > 0 && m.entropy_norm < cfg_.entropy_floor, {}}},
      {"dominant_expert", {m.total > 0 && m.max_share > cfg_.max_share, {m.argmax}}},
      {"low_neff", {m.total > 0 && m.n_eff < cfg_.neff_fraction * E, {}}},
      {"dead_experts", {m.total > 0 && !m.dead.empty(), m.dead}},
      {"high_maxvio", {maxvio_batch > cfg_.maxvio_ceiling, {m.argmax}}},
  };
  nlohmann::json evidence = {{"entropy_norm", m.entropy_norm}, {"n_eff", m.n_eff}, {"max_share", m.max_share},
                             {"busiest_expert", m.argmax}, {"maxvio_batch", maxvio_batch}, {"dead", m.dead}};
  std::vector<Alert> out;
  for (auto& [rule, h] : holds) {
    auto& s = st.streaks[rule];
    // dead_experts: the streak continues only while the same experts stay dead.
    const bool same = rule != "dead_experts" || s.len == 0 || s.experts == h.second;
    if (h.first && same) {
      if (s.len == 0) s.began = step;
      ++s.len;
      s.experts = h.second;
    } else if (h.first) {
      s = Streak{1, step, false, h.second};
    } else {
      s = Streak{};
    }
    if (s.len >= cfg_.window && !s.fired) {
      s.fired = true;
      Alert a;
      a.step = step;
      a.layer = layer;
      a.rule = rule;
      a.severity = is_critical(rule) ? "critical" : "warning";
      a.experts = s.experts;
      a.began_step = s.began;
      a.evidence = evidence;
      a.fix = fix_for(rule);
      out.push_back(a);
    }
  }
  st.entropy_hist.push_back(m.entropy_norm);
  if (static_cast<int64_t>(st.entropy_hist.size()) > cfg_.trend_window) st.entropy_hist.erase(st.entropy_hist.begin());
  const bool crit = collapsed(layer);
  const double slope = trend_slope(st.entropy_hist);
  if (!crit && static_cast<int64_t>(st.entropy_hist.size()) == cfg_.trend_window && slope < cfg_.trend_slope) {
    if (!st.trend_warned) {
      Alert a{step, layer, {}, "entropy_trend", "warning", step, evidence, fix_for("entropy_trend")};
      a.evidence["slope_per_interval"] = slope;
      out.push_back(a);
      st.trend_warned = true;
    }
  } else if (slope >= cfg_.trend_slope) {
    st.trend_warned = false;
  }
  if (st.was_collapsed && status(layer) == "ok")
    out.push_back(Alert{step, layer, {}, "recovered", "info", step, evidence, fix_for("recovered")});
  if (crit) st.was_collapsed = true;
  else if (status(layer) == "ok") st.was_collapsed = false;
  return out;
}

std::string CollapseDetector::status(int64_t layer) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return "ok";
  bool warn = false;
  for (auto& [rule, s] : it->second.streaks) {
    if (is_critical(rule) && s.len >= cfg_.window) return "collapsed";
    if (s.len > 0) warn = true;
  }
  return warn || it->second.trend_warned ? "warning" : "ok";
}

int64_t CollapseDetector::collapse_began(int64_t layer) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return -1;
  int64_t began = -1;
  for (auto& [rule, s] : it->second.streaks)
    if (is_critical(rule) && s.len >= cfg_.window) began = began < 0 ? s.began : std::min(began, s.began);
  return began;
}

int64_t CollapseDetector::streak(int64_t layer, const std::string& rule) const {
  auto it = layers_.find(layer);
  if (it == layers_.end()) return 0;
  auto s = it->second.streaks.find(rule);
  return s == it->second.streaks.end() ? 0 : s->second.len;
}

}  // namespace moescope
