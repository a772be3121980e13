// health.cpp: the health table from record fields (see health.h).
#include "dashboard/health.h"

namespace moescope::dashboard {

nlohmann::json health_table(const nlohmann::json& rec, const std::map<int, double>& maxvio_global) {
  nlohmann::json rows = nlohmann::json::array();
  auto number = [](const nlohmann::json& l, const char* key) -> nlohmann::json {
    auto it = l.find(key);
    return it != l.end() && it->is_number() ? *it : nlohmann::json();
  };
  if (rec.contains("moe") && rec["moe"].is_array()) {
    for (const auto& l : rec["moe"]) {
      if (!l.is_object() || !l.contains("layer") || !l["layer"].is_number_integer()) continue;
      const int layer = l["layer"].get<int>();
      nlohmann::json row = {{"layer", layer},
                            {"entropy_norm", number(l, "entropy_norm")},
                            {"n_eff", number(l, "n_eff")},
                            {"maxvio_batch", number(l, "maxvio_batch")},
                            {"drop_rate", number(l, "drop_rate")}};
      auto g = maxvio_global.find(layer);
      row["maxvio_global"] = g == maxvio_global.end() ? nlohmann::json() : nlohmann::json(g->second);
      nlohmann::json dead = nlohmann::json::array();
      if (l.contains("dead") && l["dead"].is_array())
        for (const auto& d : l["dead"])
          if (d.is_number_integer()) dead.push_back(d);
      row["dead"] = dead;
      row["status"] = l.contains("status") && l["status"].is_string() ? l["status"].get<std::string>() : "unknown";
      rows.push_back(row);
    }
  }
  return {{"step", rec.contains("step") ? rec["step"] : nlohmann::json()}, {"layers", rows}};
}

}  // namespace moescope::dashboard
