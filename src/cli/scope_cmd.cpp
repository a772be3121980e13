// scope_cmd.cpp: `moescope scope --run RUN_DIR [--step N]`: the per-layer routing health table.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "scope/health_table.h"

namespace moescope {

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
    auto t = read_health_table(o->run + "/metrics.jsonl", o->step);
    for (auto& w : t.warnings) std::cerr << "warning: " << w << "\n";
    if (o->json) std::cout << nlohmann::json{{"step", t.step}, {"layers", t.layers}}.dump() << std::endl;
    else std::cout << t.render();
    return 0;
  };
}

}  // namespace moescope
