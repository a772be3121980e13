// scope_cmd.cpp: `moescope scope --run RUN_DIR [--step N]`: the per-layer routing health table.
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "compress/compressed_run.h"
#include "compress/report.h"
#include "io/atomic_file.h"
#include "run/health.h"
#include "run/run_layout.h"

namespace moescope {
namespace {
// A compressed run (moescope compress): its per-bank compression table, then the source run's
// routing health when that run is still on disk.
int scope_compressed(const std::string& run, int64_t step, bool json) {
  compress::check_compressed_marker(run);
  auto summary = compress::read_compress_summary(metrics_path(run));
  const auto marker = nlohmann::json::parse(read_file(compress::compressed_marker_path(run)));
  const std::string src = marker.value("source_run", "");
  const bool have_src = !src.empty() && std::filesystem::exists(metrics_path(src));
  HealthTable t;
  if (have_src) t = read_health_table(metrics_path(src), step);
  if (json) {
    nlohmann::json j{{"compress", summary}, {"source_run", src}};
    if (have_src) j["source"] = {{"step", t.step}, {"layers", t.layers}};
    std::cout << j.dump() << std::endl;
    return 0;
  }
  std::cout << compress::render_compress_summary(summary);
  if (have_src) std::cout << "\nsource run " << src << " routing health:\n" << t.render();
  return 0;
}
}  // namespace

Command register_scope(CLI::App& app) {
  struct Opts {
    std::string run;
    int64_t step = -1;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("scope", "Per-layer routing health (entropy, N_eff, MaxVio, dead experts, drops, status)");
  c->add_option("--run", o->run, "Run directory")->required();
  c->add_option("--step", o->step, "Show the last log interval at or before this step (default: latest)");
  c->add_flag("--json", o->json, "Print the layer records as JSON");
  return [o]() -> int {
    if (compress::is_compressed_run(o->run)) return scope_compressed(o->run, o->step, o->json);
    auto t = read_health_table(metrics_path(o->run), o->step);
    for (auto& w : t.warnings) std::cerr << "warning: " << w << "\n";
    if (o->json) std::cout << nlohmann::json{{"step", t.step}, {"layers", t.layers}, {"summary", t.summary}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    else std::cout << t.render();
    return 0;
  };
}

}  // namespace moescope
