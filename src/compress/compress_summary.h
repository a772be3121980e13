// compress_summary.h: the per-bank table `moescope scope` prints for a compressed run, from the
// "compress_summary" record of OUT_DIR/metrics.jsonl.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace moescope::compress {

// The last compress_summary record of a metrics log; throws naming the file when there is none,
// and naming file:line, field and expected type when a field has the wrong type.
nlohmann::json read_compress_summary(const std::string& metrics_path);
// Budget line, then one row per bank: rank, bases, rel_error, mse, support, entropy, coherence, cond.
std::string render_compress_summary(const nlohmann::json& summary);

}  // namespace moescope::compress
