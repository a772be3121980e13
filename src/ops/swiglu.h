// swiglu.h: the SwiGLU feed-forward, y = (silu(x Wg^T) * (x Wu^T)) Wd^T.
// x_ND: [N, D]; w_gate_FD, w_up_FD: [F, D]; w_down_DF: [D, F]. Returns [N, D].
// With autograd on a CPU in fp32/bf16 it runs as one block of grouped_swiglu (fused passes).
#pragma once
#include "ops/tensor_fwd.h"

namespace moescope {

at::Tensor swiglu(const at::Tensor& x_ND, const at::Tensor& w_gate_FD, const at::Tensor& w_up_FD,
                  const at::Tensor& w_down_DF);

}  // namespace moescope
