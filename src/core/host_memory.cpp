// host_memory.cpp: available memory and byte sizes (see host_memory.h).
#include "core/host_memory.h"
#include "core/str_edit.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace moescope {
namespace {

// The first line of a small text file under /proc or /sys ("" when absent). Bounded.
std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line.size() > 64 ? "" : line;
}

uint64_t to_u64(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return 0;
  return std::stoull(s);
}

// The first `max_lines` lines of a /proc text file (bounded).
std::string proc_text(const char* path, int max_lines) {
  std::ifstream f(path);
  std::string text, line;
  for (int i = 0; i < max_lines && std::getline(f, line); ++i) text += line + "\n";
  return text;
}

}  // namespace

uint64_t parse_proc_kb(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  const std::string k = key + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, k.size(), k) != 0) continue;
    std::istringstream value(line.substr(k.size()));
    uint64_t kb = 0;
    return value >> kb ? kb * 1024 : 0;
  }
  return 0;
}

uint64_t parse_meminfo_available(const std::string& meminfo) { return parse_proc_kb(meminfo, "MemAvailable"); }

uint64_t process_status_bytes(const std::string& key) {
  return parse_proc_kb(proc_text("/proc/self/status", 128), key);
}

uint64_t available_memory_bytes() {
  uint64_t avail = parse_meminfo_available(proc_text("/proc/meminfo", 64));
  // cgroup v2: "max" means no limit.
  const uint64_t max = to_u64(first_line("/sys/fs/cgroup/memory.max"));
  const uint64_t cur = to_u64(first_line("/sys/fs/cgroup/memory.current"));
  if (max > 0) {
    const uint64_t room = max > cur ? max - cur : 0;
    if (avail == 0 || room < avail) avail = room;
  }
  return avail;
}

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  auto bad = [&]() -> uint64_t {
    throw std::invalid_argument(what + ": '" + text + "' is not a size (e.g. 8G, 512M, 1073741824)");
  };
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
    bad();
  }
  std::string unit = text.substr(pos);
  if (ends_with(unit, "iB")) unit.resize(unit.size() - 2);
  else if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  double mult = 1;
  if (unit == "K" || unit == "k") mult = 1024.0;
  else if (unit == "M") mult = 1024.0 * 1024;
  else if (unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty()) bad();
  const double bytes = v * mult;
  if (!std::isfinite(bytes) || bytes < 1 || bytes > 9.0e18) bad();
  return static_cast<uint64_t>(bytes);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  else if (bytes >= 1e6) std::snprintf(buf, sizeof buf, "%.3g %s", bytes, units[u]);
  else std::snprintf(buf, sizeof buf, "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace moescope
