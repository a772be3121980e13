// report_cmd.cpp: `moescope report --run RUN_DIR -o report.html [--png DIR]`: a shareable,
// self-contained HTML report of a run (and optionally its heatmap and entropy chart as PNG).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "dashboard/chart_png.h"
#include "dashboard/report.h"
#include "io/atomic_file.h"

namespace moescope {

Command register_report(CLI::App& app) {
  struct Opts {
    std::string run, out, png;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("report",
                               "Self-contained HTML report of a run (charts at the final step, health table, alerts)");
  c->add_option("--run", o->run, "Run directory")->required();
  c->add_option("-o,--out", o->out, "Output HTML file")->required();
  c->add_option("--png", o->png, "Also write heatmap.png and entropy.png into this directory");
  return [o]() -> int {
    dashboard::ReportConfig cfg;
    cfg.warn = [](const std::string& w) { std::cerr << "warning: " << w << "\n"; };
    write_file_atomic(o->out, dashboard::build_report(o->run, cfg));
    std::cout << "wrote " << o->out << std::endl;
    if (!o->png.empty())
      for (const std::string& p : dashboard::write_run_pngs(o->run, o->png)) std::cout << "wrote " << p << std::endl;
    return 0;
  };
}

}  // namespace moescope
