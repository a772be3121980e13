// moe_reference.h: the naive MoE forward every fast path is checked against (test and bench code).
// For each expert e: mask_T = tokens that chose e (and were kept), w_T = their gate weight,
// y += w_T * expert_e(x) computed densely over all T tokens. Capacity is applied by a plain
// host loop over each expert's assignments in priority order (ops/dispatch_reference.h). Slow by
// design.
#pragma once
#include "model/moe.h"

namespace moescope {

// Same parameters and router as `layer`; returns y_BSD and, if given, the [T, K] keep mask.
at::Tensor moe_reference_forward(MoELayerImpl& layer, const at::Tensor& x_BSD, at::Tensor* keep_TK = nullptr);

}  // namespace moescope
