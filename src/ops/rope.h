// rope.h: rotary position embedding (rotate-half / GPT-NeoX layout).
// For a feature vector x of even width R split as [x1 | x2] (R/2 each):
//   rope(x, p) = [x1*cos(p*f) - x2*sin(p*f) | x2*cos(p*f) + x1*sin(p*f)],  f_i = theta^(-2i/R).
#pragma once
#include <cstdint>

#include "ops/tensor_fwd.h"

namespace moescope {

// cos/sin tables for positions [start, start+S): each [S, R/2], dtype fp32 (fp64 if `dbl`).
void rope_tables(int64_t start, int64_t S, int64_t R, double theta, bool dbl, at::Tensor* cos_SR,
                 at::Tensor* sin_SR, const at::Tensor* like = nullptr);

// x_BSHR: [B, S, H, R]; cos/sin: [S, R/2]. Returns the rotated tensor (same shape/dtype).
at::Tensor apply_rope(const at::Tensor& x_BSHR, const at::Tensor& cos_SR, const at::Tensor& sin_SR);

}  // namespace moescope
