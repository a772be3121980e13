// health_table.cpp: see health_table.h.
#include "scope/health_table.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "io/jsonl.h"

namespace moescope {

HealthTable read_health_table(const std::string& path, int64_t step) {
  auto r = read_jsonl(path);
  HealthTable t;
  t.warnings = r.warnings;
  for (auto& rec : r.records) {
    if (rec.value("type", "") != "train" || !rec.contains("moe") || !rec["step"].is_number_integer()) continue;
    const int64_t s = rec["step"].get<int64_t>();
    if (step >= 0 && s > step) continue;
    if (s >= t.step) {
      t.step = s;
      t.layers.assign(rec["moe"].begin(), rec["moe"].end());
    }
  }
  if (t.step < 0)
    throw std::runtime_error(path + ": no routing metrics" + (step >= 0 ? " at or before step " + std::to_string(step) : std::string()) +
                             " (was the run trained with scope.enabled=true and MoE layers?)");
  return t;
}

std::string HealthTable::render() const {
  std::ostringstream o;
  char line[256];
  o << "step " << step << "\n";
  std::snprintf(line, sizeof line, "%-6s %8s %7s %8s %9s %-14s %s\n", "layer", "entropy", "N_eff", "MaxVio", "drop", "dead", "status");
  o << line;
  for (auto& l : layers) {
    std::string dead;
    for (auto& d : l.value("dead", nlohmann::json::array())) dead += (dead.empty() ? "" : ",") + std::to_string(d.get<int64_t>());
    if (dead.empty()) dead = "-";
    std::snprintf(line, sizeof line, "%-6lld %8.3f %7.2f %8.3f %8.2f%% %-14s %s\n",
                  static_cast<long long>(l.value("layer", int64_t{-1})), l.value("entropy_norm", 0.0), l.value("n_eff", 0.0),
                  l.value("maxvio_batch", 0.0), 100.0 * l.value("drop_rate", 0.0), dead.c_str(),
                  l.value("status", std::string("?")).c_str());
    o << line;
  }
  return o.str();
}

}  // namespace moescope
