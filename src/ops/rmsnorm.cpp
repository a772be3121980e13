// rmsnorm.cpp: see rmsnorm.h.
#include "ops/rmsnorm.h"

#include <torch/torch.h>

namespace moescope {

at::Tensor rms_norm(const at::Tensor& x_ND, const at::Tensor& weight_D, double eps) {
  auto acc = x_ND.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto x = x_ND.to(acc);
  auto inv = torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (x * inv).to(x_ND.scalar_type()) * weight_D.to(x_ND.scalar_type());
}

}  // namespace moescope
