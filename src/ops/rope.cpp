// rope.cpp: see rope.h.
#include "ops/rope.h"

#include <torch/torch.h>

namespace moescope {

void rope_tables(int64_t start, int64_t S, int64_t R, double theta, bool dbl, at::Tensor* cos_SR,
                 at::Tensor* sin_SR, const at::Tensor* like) {
  auto opts = torch::TensorOptions().dtype(dbl ? torch::kDouble : torch::kFloat);
  if (like) opts = opts.device(like->device());
  auto i = torch::arange(0, R / 2, opts);
  auto inv_freq = torch::pow(theta, -2.0 * i / static_cast<double>(R));          // [R/2]
  auto pos = torch::arange(start, start + S, opts);                                // [S]
  auto ang = pos.unsqueeze(1) * inv_freq.unsqueeze(0);                             // [S, R/2]
  *cos_SR = ang.cos();
  *sin_SR = ang.sin();
}

at::Tensor apply_rope(const at::Tensor& x_BSHR, const at::Tensor& cos_SR, const at::Tensor& sin_SR) {
  const int64_t half = x_BSHR.size(-1) / 2;
  auto x1 = x_BSHR.narrow(-1, 0, half);
  auto x2 = x_BSHR.narrow(-1, half, half);
  auto c = cos_SR.to(x_BSHR.scalar_type()).unsqueeze(0).unsqueeze(2);  // [1, S, 1, R/2]
  auto s = sin_SR.to(x_BSHR.scalar_type()).unsqueeze(0).unsqueeze(2);
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

}  // namespace moescope
