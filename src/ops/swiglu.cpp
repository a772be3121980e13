// swiglu.cpp: see swiglu.h. Weights are cast to x's dtype (bf16 compute, fp32 masters).
#include "ops/swiglu.h"

#include <torch/torch.h>

#include "ops/attention_core.h"

namespace moescope {

at::Tensor swiglu(const at::Tensor& x_ND, const at::Tensor& w_gate_FD, const at::Tensor& w_up_FD,
                  const at::Tensor& w_down_DF) {
  auto dt = x_ND.scalar_type();
  auto g_NF = torch::matmul(x_ND, cast_to(w_gate_FD, dt).t());
  auto u_NF = torch::matmul(x_ND, cast_to(w_up_FD, dt).t());
  return torch::matmul(torch::silu(g_NF) * u_NF, cast_to(w_down_DF, dt).t());
}

}  // namespace moescope
