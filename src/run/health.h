// health.h: the one per-layer routing health table, computed from a train record's "moe"
// entries (run/log_fields.h): layer, entropy_norm, n_eff, maxvio_batch, maxvio_global (from the
// latest eval at or before the step, when known), dead expert ids, drop_rate, status. The
// dashboard serves its rows as JSON; `moescope scope` renders them as text.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope {

// `maxvio_global` maps layer id -> the eval MaxVio to show (may be empty). Returns
// {"step": S, "layers": [{...}, ...]} in the record's layer order; a missing number is null,
// a missing status "unknown".
nlohmann::json health_table(const nlohmann::json& train_record, const std::map<int, double>& maxvio_global);

// A train record read back from a run log for `moescope scope`.
struct HealthTable {
  int64_t step = -1;                   // the train record shown
  std::vector<nlohmann::json> layers;  // its "moe" entries, as logged
  nlohmann::json summary;              // its across-layer "moe_summary" (null for older runs)
  std::vector<std::string> warnings;   // skipped log lines
  std::string render() const;          // aligned text table of health_table()'s rows
};

// The latest train record with routing metrics, or the last one at or before `step` (>= 0).
// Throws std::runtime_error naming the file when it has none.
HealthTable read_health_table(const std::string& metrics_jsonl, int64_t step = -1);

}  // namespace moescope
