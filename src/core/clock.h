// clock.h: seconds on the monotonic clock, for durations (step times, timeouts); not wall time.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace moescope {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "1.23": the seconds since `t0` (a now_s() value), for a log line.
inline std::string seconds_since(double t0) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", now_s() - t0);
  return buf;
}

}  // namespace moescope
