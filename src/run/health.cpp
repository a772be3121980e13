// health.cpp: see health.h.
#include "run/health.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "io/jsonl.h"
#include "run/log_fields.h"
#include "run/log_record.h"

namespace moescope {
namespace f = log_field;

nlohmann::json health_table(const nlohmann::json& rec, const std::map<int, double>& maxvio_global) {
  nlohmann::json rows = nlohmann::json::array();
  auto number = [](const nlohmann::json& l, const char* key) -> nlohmann::json {
    auto it = l.find(key);
    return it != l.end() && it->is_number() ? *it : nlohmann::json();
  };
  if (rec.contains(f::kMoe) && rec[f::kMoe].is_array()) {
    for (const auto& l : rec[f::kMoe]) {
      if (!l.is_object() || !l.contains(f::kLayer) || !l[f::kLayer].is_number_integer()) continue;
      const int layer = l[f::kLayer].get<int>();
      nlohmann::json row = {{f::kLayer, layer},
                            {f::kEntropyNorm, number(l, f::kEntropyNorm)},
                            {f::kNEff, number(l, f::kNEff)},
                            {f::kMaxVioBatch, number(l, f::kMaxVioBatch)},
                            {f::kDropRate, number(l, f::kDropRate)}};
      auto g = maxvio_global.find(layer);
      row[f::kMaxVioGlobal] = g == maxvio_global.end() ? nlohmann::json() : nlohmann::json(g->second);
      nlohmann::json dead = nlohmann::json::array();
      if (l.contains(f::kDead) && l[f::kDead].is_array())
        for (const auto& d : l[f::kDead])
          if (d.is_number_integer()) dead.push_back(d);
      row[f::kDead] = dead;
      // Newer runs only (null / [] when the log predates them).
      nlohmann::json starved = nlohmann::json::array();
      if (l.contains(f::kStarved) && l[f::kStarved].is_array())
        for (const auto& d : l[f::kStarved])
          if (d.is_number_integer()) starved.push_back(d);
      row[f::kStarved] = starved;
      row[f::kMaxTokenShare] = number(l, f::kMaxTokenShare);
      nlohmann::json tpe;
      if (l.contains(f::kTokensPerExpert) && l[f::kTokensPerExpert].is_object())
        for (const char* q : {"p50", "p90", "p99", "min", "max", "cv"}) tpe[q] = number(l[f::kTokensPerExpert], q);
      row[f::kTokensPerExpert] = tpe;
      row[f::kStatus] =
          l.contains(f::kStatus) && l[f::kStatus].is_string() ? l[f::kStatus].get<std::string>() : "unknown";
      rows.push_back(row);
    }
  }
  return {{f::kStep, rec.contains(f::kStep) ? rec[f::kStep] : nlohmann::json()}, {"layers", rows}};
}

HealthTable read_health_table(const std::string& path, int64_t step) {
  auto r = read_jsonl(path);
  HealthTable t;
  t.warnings = r.warnings;
  for (size_t i = 0; i < r.records.size(); ++i) {
    const nlohmann::json& rec = r.records[i];
    const std::string where = log_where(path, r.line_numbers[i]);
    try {  // a record of the wrong shape is skipped with a warning naming line, field and type
      if (string_field(rec, f::kType, where).value_or("") != f::kTrain) continue;
      const nlohmann::json* moe = array_field(rec, f::kMoe, where);
      if (!moe) continue;
      const int64_t s = require_integer(rec, f::kStep, where);
      if (step >= 0 && s > step) continue;
      if (s >= t.step) {
        t.step = s;
        t.layers.assign(moe->begin(), moe->end());
        t.summary = rec.contains(f::kMoeSummary) ? rec[f::kMoeSummary] : nlohmann::json();
      }
    } catch (const std::runtime_error& e) {
      t.warnings.push_back(std::string(e.what()) + "; record skipped");
    }
  }
  if (t.step < 0)
    throw std::runtime_error(path + ": no routing metrics" +
                             (step >= 0 ? " at or before step " + std::to_string(step) : std::string()) +
                             " (was the run trained with scope.enabled=true and MoE layers?)");
  return t;
}

std::string HealthTable::render() const {
  auto num = [](const nlohmann::json& row, const char* key) {
    auto it = row.find(key);
    return it != row.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  std::ostringstream o;
  char line[256];
  o << "step " << step << "\n";
  std::snprintf(line, sizeof line, "%-6s %8s %7s %8s %9s %7s %-14s %-22s %s\n", "layer", "entropy", "N_eff", "MaxVio",
                "drop", "starved", "dead", "tokens/expert p50/p99", "status");
  o << line;
  const nlohmann::json rows = health_table({{f::kMoe, layers}}, {})["layers"];
  for (const auto& row : rows) {
    std::string dead;
    for (auto& d : row[f::kDead]) dead += (dead.empty() ? "" : ",") + std::to_string(d.get<int64_t>());
    if (dead.empty()) dead = "-";
    std::string tpe = "-";
    if (row[f::kTokensPerExpert].is_object()) {
      char b[64];
      std::snprintf(b, sizeof b, "%.0f/%.0f", num(row[f::kTokensPerExpert], "p50"),
                    num(row[f::kTokensPerExpert], "p99"));
      tpe = b;
    }
    std::snprintf(line, sizeof line, "%-6lld %8.3f %7.2f %8.3f %8.2f%% %7zu %-14s %-22s %s\n",
                  static_cast<long long>(row[f::kLayer].get<int64_t>()), num(row, f::kEntropyNorm), num(row, f::kNEff),
                  num(row, f::kMaxVioBatch), 100.0 * num(row, f::kDropRate), row[f::kStarved].size(), dead.c_str(),
                  tpe.c_str(), row[f::kStatus].get<std::string>().c_str());
    o << line;
  }
  if (summary.is_object() && summary.contains("tokens_per_expert") && summary["tokens_per_expert"].is_object()) {
    const auto& t = summary["tokens_per_expert"];
    std::snprintf(line, sizeof line,
                  "all layers: tokens/expert p50 %.0f p90 %.0f p99 %.0f min %.0f max %.0f CV %.3f; MaxVio max %.3f\n",
                  num(t, "p50"), num(t, "p90"), num(t, "p99"), num(t, "min"), num(t, "max"), num(t, "cv"),
                  num(summary, f::kMaxVioBatchMax));
    o << line;
  }
  return o.str();
}

}  // namespace moescope
