// report.h: `moescope report`: one self-contained HTML file for a run (no network needed to
// open it): the dashboard page with every script and stylesheet inlined and the API responses
// it needs (all series, heatmaps, health table and alerts at the final step) embedded as
// window.MOESCOPE_STATIC, keyed as web/api.js's apiKey() does.
#pragma once
#include <functional>
#include <string>

#include "dashboard/dashboard_api.h"

namespace moescope::dashboard {

struct ReportConfig {
  size_t points = 1000;                          // per series; must match POINTS in web/dashboard.js
  std::function<void(const std::string&)> warn;  // skipped log lines (default: ignored)
};

// The report's HTML. Throws std::runtime_error when `run_dir` has no metrics.jsonl.
std::string build_report(const std::string& run_dir, const ReportConfig& cfg = {});

// The key under which a response is stored: path?k=v&... over the parameters other than
// `run`, sorted by name.
std::string static_key(const std::string& path, const Params& params);

}  // namespace moescope::dashboard
