// grouped_swiglu.h: all routed experts' SwiGLU over expert-sorted tokens, one autograd node.
//
// Legend: A assignments sorted by expert (block e holds sizes[e] rows), D width,
//         F expert hidden, E experts.
//   for each block e with rows x_nD and gate weights w_n:
//     [g | u]_n2F = x_nD [Wg_e; Wu_e]^T        (gate and up fused into one matmul)
//     y_nD = ((silu(g) * u) * w_n) Wd_e^T      (gate weight folded into the hidden)
// Every matmul writes into one preallocated [A, ...] buffer (no per-expert allocations, no
// concatenation); the backward is hand-written with the same blocking. The gate weights w_A
// receive their gradient here (dw_n = sum_F(dy Wd_e * silu(g) * u)).
// Checked against the naive masked reference and by finite differences (tests/model).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace moescope {

// x_AD [A, D]; w_A [A] gate weights (any float dtype, cast to x's); per-expert weights
// w_gate[e], w_up[e]: [F, D], w_down[e]: [D, F] (cast to x's dtype). Returns y_AD [A, D].
at::Tensor grouped_swiglu(const at::Tensor& x_AD, const at::Tensor& w_A, const std::vector<int64_t>& sizes,
                          const std::vector<at::Tensor>& w_gate, const std::vector<at::Tensor>& w_up,
                          const std::vector<at::Tensor>& w_down);

}  // namespace moescope
