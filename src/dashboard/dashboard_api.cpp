// dashboard_api.cpp: the JSON API (see dashboard_api.h).
#include "dashboard/dashboard_api.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "dashboard/confined_file.h"
#include "io/json_guard.h"
#include "run/health.h"
#include "run/log_fields.h"
#include "run/routing_profile_fields.h"
#include "run/routing_profile_view.h"

namespace moescope::dashboard {
namespace f = log_field;
namespace {

const std::string* get(const Params& p, const std::string& key) {
  auto it = p.find(key);
  return it == p.end() ? nullptr : &it->second;
}

// Request text quoted in an error message: invalid UTF-8 and control bytes escaped, cut short.
std::string quoted(const std::string& s) { return "'" + printable_text(s, 80) + "'"; }

// Steps and layers are non-negative integers below 2^53 (exact as doubles).
constexpr int64_t kMaxIndex = int64_t(1) << 53;

// An integer parameter in [lo, hi]: ASCII digits only (no sign, space, exponent or fraction),
// else ApiError(400) naming the parameter, what it must be and what it got. `fallback` when
// the parameter is absent.
int64_t integer_param(const Params& p, const std::string& key, int64_t lo, int64_t hi, int64_t fallback) {
  const std::string* v = get(p, key);
  if (!v) return fallback;
  const std::string must =
      "parameter '" + key + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  const bool digits = !v->empty() && std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw ApiError(400, must + " (digits only), got " + quoted(*v));
  const int64_t n = v->size() <= 18 ? std::stoll(*v) : INT64_MAX;  // 18 digits always fit
  if (n < lo || n > hi) throw ApiError(400, must + ", got " + printable_text(*v, 40));
  return n;
}

// A step bound or step as a double; `fallback` (+-infinity) when absent.
double step_param(const Params& p, const std::string& key, double fallback) {
  return get(p, key) ? double(integer_param(p, key, 0, kMaxIndex, 0)) : fallback;
}

const SeriesTable& table_named(const RunIndex& r, const std::string& name) {
  if (name == f::kTrain) return r.train();
  if (name == f::kEval) return r.eval();
  if (name == f::kCompress) return r.compress();
  throw ApiError(400, "parameter 'table' must be train, eval or compress, got " + quoted(name));
}

nlohmann::json table_layout(const SeriesTable& t) {
  nlohmann::json fields = nlohmann::json::object();
  for (const std::string& f : t.fields()) fields[f] = t.entities(f);
  nlohmann::json out = {{"rows", t.rows()}, {"fields", fields}};
  out["first_step"] = t.rows() ? nlohmann::json(t.steps().front()) : nlohmann::json();
  out["last_step"] = t.rows() ? nlohmann::json(t.steps().back()) : nlohmann::json();
  return out;
}

nlohmann::json tail(const std::vector<nlohmann::json>& v, size_t n) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = v.size() > n ? v.size() - n : 0; i < v.size(); ++i) out.push_back(v[i]);
  return out;
}

}  // namespace

nlohmann::json DashboardApi::handle(const std::string& path, const Params& params) const {
  if (path == "/api/runs") return runs();
  if (path == "/api/run") return run(params);
  if (path == "/api/series") return series(params);
  if (path == "/api/heatmap") return heatmap(params);
  if (path == "/api/events") return events(params);
  if (path == "/api/health") return health(params);
  if (path == "/api/profile") return profile(params);
  throw ApiError(404, "no such endpoint: " + quoted(path));
}

std::shared_ptr<RunIndex> DashboardApi::find_run(const Params& p) const {
  const std::string* id = get(p, "run");
  if (!id) throw ApiError(400, "missing parameter 'run'");
  auto r = catalog_.find(*id);
  if (!r) throw ApiError(404, "no run " + quoted(*id) + " under the log directory");
  return r;
}

// The train record at `row`, re-read from the log; ApiError(503) when that fails (the log is
// being rewritten by a resumed run, or was removed).
nlohmann::json DashboardApi::record(const RunIndex& r, size_t row) const {
  try {
    return r.record_at(row);
  } catch (const std::exception&) {
    r.request_reindex();  // the poller reads the file again from the start: the retry finds it
    throw ApiError(503,
                   "could not re-read the record from the run's metrics.jsonl (rewritten or removed); "
                   "re-indexing it: try again");
  }
}

nlohmann::json DashboardApi::runs() const {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& id : catalog_.ids()) {
    auto r = catalog_.find(id);
    auto lock = r->read_lock();
    const SeriesTable& t = r->kind() == "compress" ? r->compress() : r->train();
    out.push_back({{"id", id},
                   {"kind", r->kind()},
                   {"records", r->records()},
                   {"alerts", r->alerts().size()},
                   {"last_step", t.rows() ? nlohmann::json(t.steps().back()) : nlohmann::json()},
                   {"version", r->version()}});
  }
  return out;
}

nlohmann::json DashboardApi::run(const Params& p) const {
  auto r = find_run(p);
  nlohmann::json config;  // null when missing, unreadable, outside the log directory or invalid
  std::string text;
  try {
    if (read_confined(catalog_.root(), r->dir() + "/config.json", kMaxConfigBytes, text) &&
        json_depth_error(text).empty())
      config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    config = nullptr;
  }
  if (config.is_discarded()) config = nullptr;
  auto lock = r->read_lock();
  return {{"id", *get(p, "run")},
          {"kind", r->kind()},
          {"layers", r->layers()},
          {"experts", r->experts()},
          {"tables",
           {{"train", table_layout(r->train())},
            {"eval", table_layout(r->eval())},
            {"compress", table_layout(r->compress())}}},
          {"coactivation_records", r->coactivation_rows().size()},
          {"alerts", r->alerts().size()},
          {"remediations", r->remediations().size()},
          {"compress_summary", r->compress_summary()},
          {"warnings", r->recent_warnings()},
          {"warning_count", r->warning_count()},
          {"version", r->version()},
          {"config", config}};
}

nlohmann::json DashboardApi::series(const Params& p) const {
  auto r = find_run(p);
  const std::string* table_name = get(p, "table");
  const std::string* field = get(p, "field");
  if (!field) throw ApiError(400, "missing parameter 'field'");
  const int64_t points = integer_param(p, "points", 2, int64_t(cfg_.max_points), int64_t(cfg_.default_points));
  const double from = step_param(p, "from", -std::numeric_limits<double>::infinity());
  const double to = step_param(p, "to", std::numeric_limits<double>::infinity());

  auto lock = r->read_lock();
  const SeriesTable& t = table_named(*r, table_name ? *table_name : "train");
  std::vector<std::string> entities;
  const std::string* entity = get(p, "entity");
  if (entity && *entity != "all") entities.push_back(*entity);
  else entities = t.entities(*field);
  std::vector<const std::vector<float>*> cols;
  for (const std::string& e : entities) cols.push_back(t.column(*field, e));
  const auto& steps = t.steps();
  size_t begin = size_t(std::lower_bound(steps.begin(), steps.end(), from) - steps.begin());
  size_t end = size_t(std::upper_bound(steps.begin(), steps.end(), to) - steps.begin());
  Downsampled d = downsample(steps, cols, begin, end, size_t(points));
  nlohmann::json series = nlohmann::json::array();
  for (size_t i = 0; i < entities.size(); ++i) series.push_back({{"entity", entities[i]}, {"values", d.y[i]}});
  return {{"table", table_name ? *table_name : "train"},
          {"field", *field},
          {"rows", end > begin ? end - begin : 0},
          {"x", d.x},
          {"series", series}};
}

nlohmann::json DashboardApi::heatmap(const Params& p) const {
  auto r = find_run(p);
  const std::string* fp = get(p, "field");
  const std::string field = fp ? *fp : f::kLoad;
  static const std::set<std::string> vector_fields = {f::kLoad, f::kCounts,         f::kBias,
                                                      f::kDead, f::kExpertGradNorm, f::kCoactivation};
  if (!vector_fields.count(field))
    throw ApiError(400, "heatmap field must be one of load, counts, bias, dead, expert_grad_norm, coactivation");
  const double step = step_param(p, "step", std::numeric_limits<double>::infinity());
  const int64_t want_layer = integer_param(p, "layer", 0, kMaxIndex, -1);

  size_t row;
  int experts;
  {
    auto lock = r->read_lock();
    if (!r->train().rows()) throw ApiError(404, "run has no train records");
    row = size_t(r->train().row_at_or_before(step));
    experts = r->experts();
    if (field == f::kCoactivation) {
      const auto& rows = r->coactivation_rows();
      auto it = std::upper_bound(rows.begin(), rows.end(), row);
      if (it == rows.begin()) throw ApiError(404, "no co-activation logged at or before this step");
      row = *(it - 1);
    }
  }
  nlohmann::json rec = record(*r, row);  // outside the lock: a file read
  nlohmann::json layers = nlohmann::json::array(), values = nlohmann::json::array();
  const nlohmann::json empty = nlohmann::json::array();
  const nlohmann::json moe = rec.contains(f::kMoe) && rec[f::kMoe].is_array() ? rec[f::kMoe] : empty;
  for (const auto& l : moe) {
    if (!l.is_object() || !l.contains(f::kLayer) || !l[f::kLayer].is_number_integer()) continue;
    const int layer = l[f::kLayer].get<int>();
    if (field == f::kCoactivation) {
      if (want_layer >= 0 && layer != want_layer) continue;
      if (!l.contains(f::kCoactivation)) continue;
      return {{"step", rec[f::kStep]},
              {"field", field},
              {"layer", layer},
              {"experts", experts},
              {"values", l[f::kCoactivation]}};
    }
    layers.push_back(layer);
    nlohmann::json row_values = nlohmann::json::array();
    if (field == f::kDead) {
      std::vector<int> dead(size_t(experts), 0);
      const nlohmann::json dead_ids = l.contains(f::kDead) && l[f::kDead].is_array() ? l[f::kDead] : empty;
      for (const auto& d : dead_ids)
        if (d.is_number_integer() && d.get<int>() >= 0 && d.get<int>() < experts) dead[size_t(d.get<int>())] = 1;
      row_values = dead;
    } else if (l.contains(field) && l[field].is_array()) {
      row_values = l[field];
    }
    values.push_back(row_values);
  }
  if (field == f::kCoactivation) throw ApiError(404, "no co-activation for that layer");
  return {{"step", rec[f::kStep]}, {"field", field}, {"layers", layers}, {"experts", experts}, {"values", values}};
}

nlohmann::json DashboardApi::events(const Params& p) const {
  auto r = find_run(p);
  auto lock = r->read_lock();
  return {{"alerts", tail(r->alerts(), cfg_.max_events)}, {"remediations", tail(r->remediations(), cfg_.max_events)}};
}

nlohmann::json DashboardApi::health(const Params& p) const {
  auto r = find_run(p);
  const double step = step_param(p, "step", std::numeric_limits<double>::infinity());
  size_t row;
  std::map<int, double> global;
  {
    auto lock = r->read_lock();
    if (!r->train().rows()) throw ApiError(404, "run has no train records");
    row = size_t(r->train().row_at_or_before(step));
    const double at = r->train().steps()[row];
    const SeriesTable& ev = r->eval();
    if (ev.rows() && ev.steps().front() <= at) {
      const size_t er = size_t(ev.row_at_or_before(at));
      for (const std::string& e : ev.entities("maxvio_global")) {
        if (e.empty()) continue;  // a record-level value, not a layer's
        const float v = (*ev.column("maxvio_global", e))[er];
        if (!std::isnan(v)) global[std::stoi(e)] = v;
      }
    }
  }
  return health_table(record(*r, row), global);
}

nlohmann::json DashboardApi::profile(const Params& p) const {
  namespace pf = profile_field;
  auto r = find_run(p);
  std::string text;
  bool found = false;
  try {
    found = read_confined(catalog_.root(), r->dir() + "/" + pf::kFile, kMaxProfileBytes, text);
  } catch (const std::exception&) {
    throw ApiError(503, std::string("could not read the run's ") + pf::kFile);
  }
  if (!found)
    throw ApiError(404,
                   std::string("run has no routing profile (") + pf::kFile + ", written by `moescope scope --model`)");
  nlohmann::json j;
  try {
    j = parse_json_guarded(text, pf::kFile);
    check_routing_profile(j, pf::kFile);
  } catch (const std::exception& e) {  // our own messages: the file name and the field
    throw ApiError(422, printable_text(e.what(), 300));
  }
  // What the page uses: no per-corpus raw counts, co-activation or spreads.
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : j[pf::kLayers])
    layers.push_back({{pf::kLayer, l[pf::kLayer]},
                      {pf::kExperts, l[pf::kExperts]},
                      {pf::kCounts, l[pf::kCounts]},
                      {pf::kCorpusShare, l[pf::kCorpusShare]},
                      {pf::kSpecialisation, l[pf::kSpecialisation]},
                      {pf::kPreferredCorpus, l[pf::kPreferredCorpus]},
                      {pf::kDead, l[pf::kDead]},
                      {pf::kTopTokens, l[pf::kTopTokens]}});
  return {{pf::kCorpora, j[pf::kCorpora]}, {pf::kLayers, layers}, {pf::kAgreement, j[pf::kAgreement]}};
}

}  // namespace moescope::dashboard
