// rope.h: rotary position embedding (rotate-half / GPT-NeoX layout).
// For a feature vector x of even width R split as [x1 | x2] (R/2 each):
//   rope(x, p) = [x1*cos(p*f) - x2*sin(p*f) | x2*cos(p*f) + x1*sin(p*f)],  f_i = theta^(-2i/R).
// YaRN (as Hugging Face's _compute_yarn_parameters, DeepSeek-V2/V3): with factor s > 1,
//   f_i = f_i/s * (1 - m_i) + f_i * m_i,  m_i = 1 - clamp((i - lo) / (hi - lo), 0, 1),
//   lo = floor(c(beta_fast)), hi = ceil(c(beta_slow)) clamped to [0, R-1],
//   c(r) = R * ln(orig_max / (2 pi r)) / (2 ln theta);
// cos and sin are then multiplied by attention_factor.
#pragma once
#include <cstdint>
#include <vector>

#include "ops/tensor_fwd.h"

namespace moescope {

struct RopeSpec {
  double theta = 10000.0;
  double yarn_factor = 1.0;  // <= 1: plain RoPE
  int64_t yarn_original_max = 4096;
  double beta_fast = 32.0, beta_slow = 1.0;
  double attention_factor = 1.0;  // multiplies cos and sin
};
// 0.1 * mscale * ln(scale) + 1 for scale > 1, else 1 (DeepSeek's yarn_get_mscale).
double yarn_get_mscale(double scale, double mscale);
// The inverse frequencies [R/2] of a spec (fp64 values).
std::vector<double> rope_inv_freq(int64_t R, const RopeSpec& spec);

// cos/sin tables for positions [start, start+S): each [S, R/2], dtype fp32 (fp64 if `dbl`).
void rope_tables(int64_t start, int64_t S, int64_t R, const RopeSpec& spec, bool dbl, at::Tensor* cos_SR,
                 at::Tensor* sin_SR, const at::Tensor* like = nullptr);
void rope_tables(int64_t start, int64_t S, int64_t R, double theta, bool dbl, at::Tensor* cos_SR, at::Tensor* sin_SR,
                 const at::Tensor* like = nullptr);

// x_BSHR: [B, S, H, R]; cos/sin: [S, R/2]. Returns the rotated tensor (same shape/dtype).
at::Tensor apply_rope(const at::Tensor& x_BSHR, const at::Tensor& cos_SR, const at::Tensor& sin_SR);

}  // namespace moescope
