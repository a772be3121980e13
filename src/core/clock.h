// clock.h: seconds on the monotonic clock, for durations (step times, timeouts); not wall time.
#pragma once
#include <chrono>

namespace moescope {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace moescope
