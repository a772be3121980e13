// dist_env.cpp: see dist_env.h.
#include "dist/dist_env.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace moescope::dist {
namespace {

const char* const kVars[] = {"RANK",
                             "WORLD_SIZE",
                             "LOCAL_RANK",
                             "MASTER_ADDR",
                             "MASTER_PORT",
                             "MOESCOPE_STORE_FILE",
                             "MOESCOPE_DIST_TIMEOUT_S",
                             "GLOO_SOCKET_IFNAME"};

long long parse_int(const std::string& name, const std::string& v, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
    throw std::invalid_argument("environment variable " + name + "='" + v + "' is not an integer in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

}  // namespace

DistEnv parse_dist_env(const std::map<std::string, std::string>& env) {
  auto get = [&](const char* k) -> const std::string* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : &it->second;
  };
  DistEnv d;
  if (auto* v = get("WORLD_SIZE")) d.world_size = static_cast<int>(parse_int("WORLD_SIZE", *v, 1, 65536));
  if (auto* v = get("RANK")) d.rank = static_cast<int>(parse_int("RANK", *v, 0, d.world_size - 1));
  else if (d.world_size > 1)
    throw std::invalid_argument("environment variable WORLD_SIZE=" + *get("WORLD_SIZE") + " is set but RANK is not");
  if (auto* v = get("LOCAL_RANK")) d.local_rank = static_cast<int>(parse_int("LOCAL_RANK", *v, 0, 65535));
  if (auto* v = get("MASTER_ADDR")) {
    if (v->empty()) throw std::invalid_argument("environment variable MASTER_ADDR is empty");
    d.master_addr = *v;
  }
  if (auto* v = get("MASTER_PORT")) d.master_port = static_cast<int>(parse_int("MASTER_PORT", *v, 1, 65535));
  if (auto* v = get("MOESCOPE_STORE_FILE")) d.store_file = *v;
  if (auto* v = get("GLOO_SOCKET_IFNAME")) d.socket_ifname = *v;
  if (auto* v = get("MOESCOPE_DIST_TIMEOUT_S")) {
    char* end = nullptr;
    d.timeout_s = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !(d.timeout_s > 0) || d.timeout_s > 86400)
      throw std::invalid_argument("environment variable MOESCOPE_DIST_TIMEOUT_S='" + *v +
                                  "' is not a number of seconds in (0, 86400]");
  }
  return d;
}

DistEnv read_dist_env() {
  std::map<std::string, std::string> env;
  for (const char* k : kVars)
    if (const char* v = std::getenv(k)) env[k] = v;
  return parse_dist_env(env);
}

}  // namespace moescope::dist
