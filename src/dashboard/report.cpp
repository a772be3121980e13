// report.cpp: building the self-contained HTML report (see report.h).
#include "dashboard/report.h"

#include <filesystem>
#include <regex>
#include <stdexcept>

#include "dashboard/assets.h"
#include "run/log_fields.h"
#include "run/run_dir.h"

namespace moescope::dashboard {
namespace {

// Makes text safe inside a <script> or <style> element: "</" would end it early.
std::string inline_safe(std::string s) {
  for (size_t p = 0; (p = s.find("</", p)) != std::string::npos; p += 3) s.replace(p, 2, "<\\/");
  return s;
}

std::string css_inline_safe(std::string s) {
  for (size_t p = 0; (p = s.find("</", p)) != std::string::npos; p += 4) s.replace(p, 2, "<\\2f");
  return s;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

}  // namespace

std::string static_key(const std::string& path, const Params& params) {
  std::string key = path + "?";
  bool first = true;
  for (const auto& [k, v] : params) {
    if (k == "run") continue;
    key += (first ? "" : "&") + k + "=" + v;
    first = false;
  }
  return key;
}

std::string build_report(const std::string& run_dir, const ReportConfig& cfg) {
  if (!std::filesystem::is_regular_file(metrics_path(run_dir)))
    throw std::runtime_error("'" + run_dir + "' is not a run directory (no metrics.jsonl)");
  RunCatalogConfig ccfg;
  ccfg.max_depth = 0;    // the run itself, not runs nested in it
  ccfg.confine = false;  // a run the user named: its logs may be symlinks
  RunCatalog catalog(run_dir, ccfg);
  bool more = true;
  while (more)
    for (const std::string& w : catalog.update_all(&more))
      if (cfg.warn) cfg.warn(w);
  const std::vector<std::string> ids = catalog.ids();
  if (ids.size() != 1) throw std::runtime_error("'" + run_dir + "': expected exactly one run");
  const std::string id = ids[0];
  DashboardApi api(catalog);

  nlohmann::json responses = nlohmann::json::object();
  auto add = [&](const std::string& path, const Params& p) {
    try {
      responses[static_key(path, p)] = api.handle(path, p);
    } catch (const ApiError&) {
      // not logged for this run: the page shows it as missing
    }
  };
  add("/api/runs", {});
  const Params run{{"run", id}};
  add("/api/run", run);
  add("/api/events", run);
  add("/api/health", run);
  add("/api/profile", run);  // a `scope --model` run only
  auto index = catalog.find(id);
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<int> layers;
  size_t coact = 0;
  {
    auto lock = index->read_lock();
    for (const char* table : {log_field::kTrain, log_field::kEval, log_field::kCompress}) {
      const SeriesTable& t = std::string(table) == "train"  ? index->train()
                             : std::string(table) == "eval" ? index->eval()
                                                            : index->compress();
      for (const std::string& f : t.fields()) fields.emplace_back(table, f);
    }
    layers = index->layers();
    coact = index->coactivation_rows().size();
  }
  for (const auto& [table, field] : fields)
    add("/api/series", {{"run", id}, {"table", table}, {"field", field}, {"points", std::to_string(cfg.points)}});
  for (const char* field : {log_field::kLoad, log_field::kBias, log_field::kDead})
    add("/api/heatmap", {{"run", id}, {"field", field}});
  if (coact)
    for (int l : layers)
      add("/api/heatmap", {{"run", id}, {"field", log_field::kCoactivation}, {"layer", std::to_string(l)}});

  const nlohmann::json data = {{"run", id}, {"responses", responses}};
  std::string html = asset_text("index.html");
  // Inline every stylesheet and script the page references, in place.
  std::string out;
  std::regex ref(R"re(<link rel="stylesheet" href="assets/([^"]+)">|<script src="assets/([^"]+)"></script>)re");
  auto begin = std::sregex_iterator(html.begin(), html.end(), ref);
  size_t last = 0;
  bool data_written = false;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out.append(html, last, size_t(m.position(0)) - last);
    if (m[1].matched) {
      out += "<style>\n" + css_inline_safe(asset_text(m[1].str())) + "\n</style>";
    } else {
      if (!data_written) {
        out += "<script>window.MOESCOPE_STATIC = " +
               inline_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + ";</script>\n";
        data_written = true;
      }
      out += "<script>\n" + inline_safe(asset_text(m[2].str())) + "\n</script>";
    }
    last = size_t(m.position(0) + m.length(0));
  }
  out.append(html, last, std::string::npos);
  const std::string title_tag = "<title>moescope dashboard</title>";
  const size_t t = out.find(title_tag);
  if (t != std::string::npos)
    out.replace(t, title_tag.size(), "<title>moescope report: " + html_escape(id) + "</title>");
  return out;
}

}  // namespace moescope::dashboard
