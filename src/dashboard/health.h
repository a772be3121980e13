// health.h: the per-layer routing health table, computed from one train record's fields.
//
// Columns: layer, entropy_norm, n_eff, maxvio_batch, maxvio_global (from the latest eval at
// or before the step, when there is one), dead expert ids, drop_rate, status. The status is
// the one the microscope logged; records written without one get "unknown".
#pragma once
#include <map>

#include <nlohmann/json.hpp>

namespace moescope::dashboard {

// `maxvio_global` maps layer id -> the eval MaxVio to show (may be empty). Returns
// {"step": S, "layers": [{...}, ...]} in the record's layer order.
nlohmann::json health_table(const nlohmann::json& train_record, const std::map<int, double>& maxvio_global);

}  // namespace moescope::dashboard
