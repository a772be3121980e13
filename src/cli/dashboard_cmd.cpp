// dashboard_cmd.cpp: `moescope dashboard --logdir DIR [--host 127.0.0.1] [--port 8501]`: the
// live web dashboard of every run under DIR.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "dashboard/dashboard_server.h"

namespace moescope {

Command register_dashboard(CLI::App& app) {
  struct Opts {
    std::string logdir;
    dashboard::DashboardServerConfig server;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("dashboard",
                               "Live web dashboard of the runs under a log directory (offline, server-sent events)");
  c->add_option("--logdir", o->logdir, "Directory holding run directories (each with a metrics.jsonl)")->required();
  c->add_option("--host", o->server.host, "Address to bind (default 127.0.0.1: this machine only)");
  c->add_option("--port", o->server.port, "Port (0 picks a free one)")->check(CLI::Range(0, 65535));
  c->add_option("--poll-ms", o->server.poll_ms, "How often the logs are re-read, in ms")->check(CLI::Range(50, 1000));
  return [o]() -> int {
    dashboard::DashboardServer server(o->logdir, o->server);
    const int port = server.start();
    std::cout << "moescope dashboard: http://" << o->server.host << ":" << port << "/  (runs under "
              << server.catalog().logdir() << "; Ctrl-C stops)" << std::endl;
    server.serve();
    return 0;
  };
}

}  // namespace moescope
