// rmsnorm.h: RMSNorm, y = x / sqrt(mean(x^2) + eps) * w, normalised over the last dim.
// Statistics are computed in fp32 (or fp64 for double input); the result has x's dtype.
#pragma once
#include "ops/tensor_fwd.h"

namespace moescope {

// x_ND: [..., D], weight_D: [D]
at::Tensor rms_norm(const at::Tensor& x_ND, const at::Tensor& weight_D, double eps);

}  // namespace moescope
