// dispatch_reference.h: the naive capacity decision every dispatch fast path is checked against
// (test and bench code). A plain host loop over each expert's assignments in priority order.
#pragma once
#include <cstdint>

#include <ATen/ATen.h>

#include "core/config_enums.h"

namespace moescope {

// Host-loop capacity decision: keep_TK[t, j] for the given routing (see ops/dispatch.h).
// expert_TK: int64 [T, K]; weight_TK: [T, K] gate weights (the priority under DropPolicy::kScore).
at::Tensor reference_keep_mask(const at::Tensor& expert_TK, const at::Tensor& weight_TK, int64_t E,
                               double capacity_factor, DropPolicy policy);

}  // namespace moescope
