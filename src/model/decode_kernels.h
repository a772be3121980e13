// decode_kernels.h: the plain fp32 loops of the single-token decode path (model/decode_step.h):
// matrix-vector products over contiguous row-major weights, RMSNorm, rotate-half RoPE, softmax
// and SwiGLU on one vector. Torch-free: a decode step of a small model runs hundreds of these,
// each far below LibTorch's per-op dispatch cost. On x86-64 with GCC the hot loops are compiled
// for AVX-512, AVX2+FMA and baseline x86-64 and the loader picks one (target_clones), so one
// binary runs anywhere and uses the widest vectors the CPU has.
// Legend: O output rows, I input width, n vector length, R rotated width (even).
#pragma once
#include <cstdint>

namespace moescope::decode {

// y_O = W_OI x_I (W row-major, rows contiguous); y must not alias x.
void matvec(const float* W_OI, const float* x_I, float* y_O, int64_t O, int64_t I);
// y_I = W_OI^T x_O = sum_o x_O[o] W_OI[o, :] (rows of W scaled and accumulated; y overwritten).
void matvec_t(const float* W_OI, const float* x_O, float* y_I, int64_t O, int64_t I);
float dot(const float* a, const float* b, int64_t n);
// y += a * x
void axpy(float a, const float* x, float* y, int64_t n);
// y = x / sqrt(mean(x^2) + eps) * w (in place allowed: y == x).
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);
// Rotate-half RoPE in place on x_R with cos/sin rows of R/2 (already scaled by the attention factor).
void rope(float* x_R, const float* cos_h, const float* sin_h, int64_t R);
// In-place softmax of x_n (max-subtracted, exp in float).
void softmax(float* x, int64_t n);
// g_n = silu(g_n) * u_n.
void silu_mul(float* g, const float* u, int64_t n);

}  // namespace moescope::decode
