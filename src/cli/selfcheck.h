// selfcheck.h: `moescope selfcheck`: builds the configured model and checks it end to end.
#pragma once
#include <cstdint>

#include "core/config.h"

namespace moescope {

// Returns 0 when every check passes; prints a JSON summary on stdout. First prints the memory
// estimate (model/resource_estimate.h) and refuses (throws) when training the configured model
// would exceed max_memory_bytes, or when 0, MemAvailable on the CPU.
int run_selfcheck(const Config& cfg, uint64_t seed, uint64_t max_memory_bytes = 0);

}  // namespace moescope
