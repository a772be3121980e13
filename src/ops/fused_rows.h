// fused_rows.h: what the fused CPU row loops (rmsnorm.cpp, grouped_swiglu.cpp) share: the dtypes
// they are compiled for (fp32 and bf16 CPU tensors) and the one switch from a tensor's dtype to
// the loops' element type. Their row kernels are overloads per element type, each compiled once
// per ISA (core/vector_clones.h).
#pragma once
#include <ATen/ATen.h>

namespace moescope {

// True for a CPU tensor of fp32 or bf16; other tensors take the LibTorch ops (the reference).
inline bool fused_row_dtype(const at::Tensor& x) {
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16);
}

// f(T{}) with T = float for fp32 and at::BFloat16 for bf16 (check fused_row_dtype first).
template <typename F>
void with_row_type(at::ScalarType t, F&& f) {
  if (t == at::kFloat) {
    f(float{});
  } else {
    f(at::BFloat16{});
  }
}

}  // namespace moescope
