// health_table.h: the per-layer routing health table of `moescope scope`, read back from a
// run log (RUN_DIR/metrics.jsonl): load entropy, N_eff, MaxVio, dead experts, drop rate, status.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope {

struct HealthTable {
  int64_t step = -1;              // the train record shown
  std::vector<nlohmann::json> layers;  // its "moe" entries
  std::vector<std::string> warnings;   // skipped log lines
  std::string render() const;     // aligned text table
};

// The latest train record with routing metrics, or the last one at or before `step` (>= 0).
// Throws std::runtime_error naming the file when it has none.
HealthTable read_health_table(const std::string& metrics_jsonl, int64_t step = -1);

}  // namespace moescope
