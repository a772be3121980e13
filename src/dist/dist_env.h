// dist_env.h: the torchrun environment of one rank of a multi-process job.
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT as torchrun (or a cluster scheduler)
// sets them; without WORLD_SIZE (or with WORLD_SIZE=1) the process runs alone and no
// communication happens. MOESCOPE_STORE_FILE, when set, names a shared file for a FileStore
// rendezvous instead of the TCPStore that rank 0 serves at MASTER_ADDR:MASTER_PORT.
// MOESCOPE_DIST_TIMEOUT_S (default 300) bounds the rendezvous and every collective: a rank that
// died or never came makes every other rank fail with an error within it.
// GLOO_SOCKET_IFNAME (read by process_group.cpp) names the network interface Gloo uses.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace moescope::dist {

struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string store_file;     // non-empty: FileStore rendezvous
  double timeout_s = 300;     // rendezvous and collectives
  std::string socket_ifname;  // GLOO_SOCKET_IFNAME
  bool distributed() const { return world_size > 1; }
};

// Reads the variables above from `env` (name -> value; a missing name is unset). Throws
// std::invalid_argument naming the variable and its value when one is malformed or out of range
// (RANK >= WORLD_SIZE, a port outside 1..65535, a timeout <= 0, ...).
DistEnv parse_dist_env(const std::map<std::string, std::string>& env);
// The same from the process environment.
DistEnv read_dist_env();

}  // namespace moescope::dist
