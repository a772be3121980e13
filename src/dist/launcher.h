// launcher.h: `moescope launch --nproc N -- COMMAND...`: N local ranks of one job, as torchrun
// --standalone starts them. Each child runs this binary with COMMAND and the torchrun
// environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; and
// OMP_NUM_THREADS = cores / N when unset, as torchrun does). The launcher forwards SIGINT,
// SIGTERM and SIGHUP to every rank; when a rank fails (non-zero exit or a signal) it sends
// SIGTERM to the others and SIGKILL after grace_s; children also get SIGTERM if the launcher
// itself dies (PR_SET_PDEATHSIG). Returns 0 when every rank exited 0, else the first failing
// rank's exit code (128 + signal for a signal).
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace moescope::dist {

struct LaunchOptions {
  int nproc = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;   // 0: a free port of master_addr, chosen now
  double timeout_s = 0;  // > 0: MOESCOPE_DIST_TIMEOUT_S for the ranks
  double grace_s = 10;   // SIGTERM -> SIGKILL
  std::string exe = "/proc/self/exe";
  std::vector<std::string> args;  // the command after `--` (e.g. train --config ...)
};

int launch(const LaunchOptions& o, std::ostream& log);

// A TCP port on `addr` that was free a moment ago (bind to port 0). Throws on failure.
int free_port(const std::string& addr);

}  // namespace moescope::dist
