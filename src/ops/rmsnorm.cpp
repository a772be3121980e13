// rmsnorm.cpp: see rmsnorm.h.
// On a CPU in fp32 or bf16 the norm is one fused autograd node: the forward reads x once and
// keeps only the per-row inverse RMS r [N] (fp32); the backward, per row with g = dy*w,
//   dx = r * (g - x * r^2 * sum(g*x) / D),   dw = sum over rows of dy * x * r,
// reads x and dy once (the composite form made 5 elementwise passes forward and 9 backward,
// each allocating [N, D]). fp64 and CUDA keep the composite form, the reference the tests use.
#include "ops/rmsnorm.h"

#include <cmath>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/fast_math.h"
#include "ops/attention_core.h"
#include "ops/fused_rows.h"

namespace moescope {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One row: y = x * r * w with r = 1 / sqrt(mean(x^2) + eps); returns r.
template <typename T>
MOESCOPE_ALWAYS_INLINE inline float norm_row(const T* x, const float* w, T* y, int64_t D, float eps) {
  float ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t d = 0; d < D; ++d) ss += static_cast<float>(x[d]) * static_cast<float>(x[d]);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) y[d] = static_cast<T>(static_cast<float>(x[d]) * inv * w[d]);
  return inv;
}

// One row of the backward: dx = r * (g - x * r^2 * sum(g*x) / D) with g = dy*w; dw += dy * x * r.
template <typename T>
MOESCOPE_ALWAYS_INLINE inline void norm_row_backward(const T* x, const T* dy, const float* w, float inv, T* dx,
                                                     float* dw, int64_t D) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t d = 0; d < D; ++d) dot += static_cast<float>(dy[d]) * w[d] * static_cast<float>(x[d]);
  const float c = inv * inv * dot / static_cast<float>(D);
#pragma omp simd
  for (int64_t d = 0; d < D; ++d) {
    const float xv = static_cast<float>(x[d]), gv = static_cast<float>(dy[d]);
    dx[d] = static_cast<T>(inv * (gv * w[d] - xv * c));
    dw[d] += gv * xv * inv;
  }
}

// The row kernels per element type, each compiled once per ISA (core/vector_clones.h).
MOESCOPE_VECTOR_CLONES float row(const float* x, const float* w, float* y, int64_t D, float eps) {
  return norm_row(x, w, y, D, eps);
}
MOESCOPE_VECTOR_CLONES float row(const at::BFloat16* x, const float* w, at::BFloat16* y, int64_t D, float eps) {
  return norm_row(x, w, y, D, eps);
}
MOESCOPE_VECTOR_CLONES void row_backward(const float* x, const float* dy, const float* w, float inv, float* dx,
                                         float* dw, int64_t D) {
  norm_row_backward(x, dy, w, inv, dx, dw, D);
}
MOESCOPE_VECTOR_CLONES void row_backward(const at::BFloat16* x, const at::BFloat16* dy, const float* w, float inv,
                                         at::BFloat16* dx, float* dw, int64_t D) {
  norm_row_backward(x, dy, w, inv, dx, dw, D);
}

template <typename T>
void forward_rows(const T* x, const float* w, T* y, float* r, int64_t N, int64_t D, float eps) {
  at::parallel_for(0, N, 64, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) r[n] = row(x + n * D, w, y + n * D, D, eps);
  });
}

// dx [N, D] in x's type; dw_PD: one fp32 partial sum of dw per chunk, [P, D].
template <typename T>
void backward_rows(const T* x, const T* dy, const float* w, const float* r, T* dx, float* dw_PD, int64_t N, int64_t D,
                   int64_t P) {
  at::parallel_for(0, P, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t p = pb; p < pe; ++p)
      for (int64_t n = N * p / P; n < N * (p + 1) / P; ++n)
        row_backward(x + n * D, dy + n * D, w, r[n], dx + n * D, dw_PD + p * D, D);
  });
}

struct FusedRmsNorm : public torch::autograd::Function<FusedRmsNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_ND, const at::Tensor& weight_D, double eps) {
    const int64_t D = x_ND.size(-1), N = x_ND.numel() / std::max<int64_t>(D, 1);
    auto x = x_ND.contiguous();
    auto w = weight_D.to(at::kFloat).contiguous();
    auto y = torch::empty_like(x);
    auto r = torch::empty({N}, x.options().dtype(at::kFloat));
    with_row_type(x.scalar_type(), [&](auto t) {
      using T = decltype(t);
      forward_rows(x.data_ptr<T>(), w.data_ptr<float>(), y.data_ptr<T>(), r.data_ptr<float>(), N, D,
                   static_cast<float>(eps));
    });
    ctx->save_for_backward({x, w, r});
    ctx->saved_data["w_dtype"] = static_cast<int64_t>(weight_D.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    const auto& r = saved[2];
    const int64_t D = x.size(-1), N = x.numel() / std::max<int64_t>(D, 1);
    auto dy = grads[0].to(x.scalar_type()).contiguous();
    auto dx = torch::empty_like(x);
    const int64_t P = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), N / 64));
    auto dw_PD = torch::zeros({P, D}, x.options().dtype(at::kFloat));
    with_row_type(x.scalar_type(), [&](auto t) {
      using T = decltype(t);
      backward_rows(x.data_ptr<T>(), dy.data_ptr<T>(), w.data_ptr<float>(), r.data_ptr<float>(), dx.data_ptr<T>(),
                    dw_PD.data_ptr<float>(), N, D, P);
    });
    const auto w_dtype = static_cast<at::ScalarType>(ctx->saved_data["w_dtype"].toInt());
    return {dx, dw_PD.sum(0).to(w_dtype), at::Tensor()};
  }
};

}  // namespace

at::Tensor rms_norm(const at::Tensor& x_ND, const at::Tensor& weight_D, double eps) {
  const auto t = x_ND.scalar_type();
  if (fused_row_dtype(x_ND) && fused_row_dtype(weight_D) && x_ND.numel() > 0)
    return FusedRmsNorm::apply(x_ND, weight_D, eps);
  auto acc = t == at::kDouble ? at::kDouble : at::kFloat;
  auto x = cast_to(x_ND, acc);
  auto inv = (x * x).mean(-1, /*keepdim=*/true).add_(eps).rsqrt_();
  return cast_to(x * inv, t) * cast_to(weight_D, t);
}

}  // namespace moescope
