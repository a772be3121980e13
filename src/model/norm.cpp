// norm.cpp: see norm.h.
#include "model/norm.h"

#include "ops/rmsnorm.h"

namespace moescope {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x_ND) { return rms_norm(x_ND, weight, eps); }

}  // namespace moescope
