// selfcheck.h: `moescope selfcheck`: builds the configured model and checks it end to end.
#pragma once
#include "core/config.h"

namespace moescope {

// Returns 0 when every check passes; prints a JSON summary on stdout.
int run_selfcheck(const Config& cfg, uint64_t seed);

}  // namespace moescope
