// launch_cmd.cpp: `moescope launch --nproc N [--master-port P] [--timeout S] -- train ...`:
// N local ranks of one data-parallel job (dist/launcher.h).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "dist/launcher.h"

namespace moescope {

Command register_launch(CLI::App& app) {
  auto o = std::make_shared<dist::LaunchOptions>();
  auto* c = app.add_subcommand(
      "launch", "Start N local ranks of a multi-process job (as torchrun does): launch --nproc 2 -- train ...");
  c->add_option("--nproc", o->nproc, "Processes (ranks) on this machine")->required()->check(CLI::Range(1, 1024));
  c->add_option("--master-addr", o->master_addr, "Address of rank 0's store")->capture_default_str();
  c->add_option("--master-port", o->master_port, "Port of rank 0's store (0: a free port)")->capture_default_str();
  c->add_option("--timeout", o->timeout_s,
                "Rendezvous and collective timeout in seconds (MOESCOPE_DIST_TIMEOUT_S; default 300)");
  c->add_option("--grace", o->grace_s, "Seconds between SIGTERM and SIGKILL when a rank failed")->capture_default_str();
  c->add_option("args", o->args, "The moescope command each rank runs, after --");
  c->footer(
      "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and OMP_NUM_THREADS = "
      "cores / N "
      "unless set). Signals are forwarded; if a rank fails the others are stopped and the launch exits non-zero.");
  return [o]() -> int { return dist::launch(*o, std::cerr); };
}

}  // namespace moescope
