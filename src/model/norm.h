// norm.h: RMSNorm as a module (learned scale "weight", ones at init).
#pragma once
#include <torch/torch.h>

namespace moescope {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x_ND);
  at::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

}  // namespace moescope
