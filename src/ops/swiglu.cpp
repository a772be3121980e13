// swiglu.cpp: see swiglu.h. Weights are cast to x's dtype (bf16 compute, fp32 masters).
#include "ops/swiglu.h"

#include <torch/torch.h>

#include "ops/attention_core.h"
#include "ops/grouped_swiglu.h"

namespace moescope {

at::Tensor swiglu(const at::Tensor& x_ND, const at::Tensor& w_gate_FD, const at::Tensor& w_up_FD,
                  const at::Tensor& w_down_DF) {
  auto dt = x_ND.scalar_type();
  if (x_ND.is_cpu() && (dt == at::kFloat || dt == at::kBFloat16) && x_ND.numel() > 0 && torch::GradMode::is_enabled() &&
      !c10::InferenceMode::is_enabled()) {
    // Training on a CPU: one block of the grouped op (its fused elementwise passes and
    // hand-written backward). Without autograd the plain ops below cost less per call (decoding).
    const int64_t D = x_ND.size(-1), N = x_ND.numel() / D;
    auto y = grouped_swiglu(x_ND.reshape({N, D}), torch::ones({N}, x_ND.options()), {N}, {w_gate_FD}, {w_up_FD},
                            {w_down_DF});
    auto sizes = x_ND.sizes().vec();
    sizes.back() = w_down_DF.size(0);
    return y.view(sizes);
  }
  auto g_NF = torch::matmul(x_ND, cast_to(w_gate_FD, dt).t());
  auto u_NF = torch::matmul(x_ND, cast_to(w_up_FD, dt).t());
  return torch::matmul(torch::silu(g_NF) * u_NF, cast_to(w_down_DF, dt).t());
}

}  // namespace moescope
