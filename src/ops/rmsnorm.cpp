// rmsnorm.cpp: see rmsnorm.h.
#include "ops/rmsnorm.h"

#include <torch/torch.h>

#include "ops/attention_core.h"

namespace moescope {

at::Tensor rms_norm(const at::Tensor& x_ND, const at::Tensor& weight_D, double eps) {
  auto acc = x_ND.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto x = cast_to(x_ND, acc);
  auto inv = (x * x).mean(-1, /*keepdim=*/true).add_(eps).rsqrt_();
  return cast_to(x * inv, x_ND.scalar_type()) * cast_to(weight_D, x_ND.scalar_type());
}

}  // namespace moescope
