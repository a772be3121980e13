// dashboard_api.h: the dashboard's JSON API, independent of HTTP (the server and the report
// builder both call it).
//
//   /api/runs                                  every run: id, kind, records, last step
//   /api/run?run=ID                            one run's layout: layers, experts, tables and
//                                              their fields/entities, counts, config
//   /api/series?run=ID&table=T&field=F[&entity=E][&points=N][&from=S][&to=S]
//                                              one field over steps, every entity (or one),
//                                              min/max downsampled to <= N points (1000)
//   /api/heatmap?run=ID&field=F[&step=S][&layer=L]
//                                              layer x expert matrix at the last record <= S
//                                              (F: load, counts, bias, dead, expert_grad_norm)
//                                              or expert x expert co-activation of layer L
//   /api/events?run=ID                         alerts and remediation records
//   /api/health?run=ID[&step=S]                the health table at the last record <= S
//   /api/profile?run=ID                        a `scope --model` run's routing profile
//                                              (run/routing_profile_fields.h): corpora, per
//                                              layer the corpus shares, specialisation and each
//                                              expert's top tokens; agreement. 404 when none
//
// Parameters are strict: steps, layers and points are ASCII digits only, in range. Bad
// parameters throw ApiError(400) naming the parameter, unknown runs/paths ApiError(404), a
// record that cannot be re-read ApiError(503). Request text quoted in a message has invalid
// UTF-8 escaped. Files are read through the catalog's confinement (confined_file.h).
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "dashboard/run_catalog.h"

namespace moescope::dashboard {

struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& what) : std::runtime_error(what), status(status) {}
  int status;
};

struct DashboardApiConfig {
  size_t default_points = 1000;
  size_t max_points = 5000;
  size_t max_events = 5000;  // newest alerts / remediations returned
};

using Params = std::map<std::string, std::string>;

class DashboardApi {
 public:
  explicit DashboardApi(const RunCatalog& catalog, DashboardApiConfig cfg = {}) : catalog_(catalog), cfg_(cfg) {}
  // `path` is one of the paths above. Throws ApiError.
  nlohmann::json handle(const std::string& path, const Params& params) const;

  nlohmann::json runs() const;
  nlohmann::json run(const Params& p) const;
  nlohmann::json series(const Params& p) const;
  nlohmann::json heatmap(const Params& p) const;
  nlohmann::json events(const Params& p) const;
  nlohmann::json health(const Params& p) const;
  nlohmann::json profile(const Params& p) const;

 private:
  static constexpr size_t kMaxConfigBytes = 4u << 20;     // a run's config.json is a few KB
  static constexpr size_t kMaxProfileBytes = 256u << 20;  // routing_profile.json: E x layers x top tokens
  std::shared_ptr<RunIndex> find_run(const Params& p) const;
  nlohmann::json record(const RunIndex& r, size_t row) const;
  const RunCatalog& catalog_;
  DashboardApiConfig cfg_;
};

}  // namespace moescope::dashboard
