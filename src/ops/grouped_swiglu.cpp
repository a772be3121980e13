// grouped_swiglu.cpp: see grouped_swiglu.h.
// On a CPU in fp32/bf16 the elementwise work between the matmuls is one fused pass each way
// (float arithmetic, sigmoid via core/fast_math.h's exp): forward h = silu(g)*u*w (3 LibTorch
// passes before); backward, from dhw = dy Wd and the saved [g | u], one pass writes h*w (for
// dWd), dg, du and dw (9 passes before). fp64 and CUDA run the LibTorch ops (the reference).
#include "ops/grouped_swiglu.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/fast_math.h"
#include "ops/attention_core.h"
#include "ops/fused_rows.h"

namespace moescope {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One row of h = silu(g) * u * w.
template <typename T>
MOESCOPE_ALWAYS_INLINE inline void hidden_row(const T* g, const T* u, float wi, T* h, int64_t F) {
#pragma omp simd
  for (int64_t f = 0; f < F; ++f) {
    const float gv = static_cast<float>(g[f]);
    const float sg = 1.0f / (1.0f + fast_expf(-gv));
    h[f] = static_cast<T>(gv * sg * static_cast<float>(u[f]) * wi);
  }
}

// One row of the backward, from dhw = dy Wd: hw = silu(g)*u*w (for dWd), dg = dhw*w*u*silu'(g),
// du = dhw*w*silu(g); returns dw = sum_F dhw*silu(g)*u. silu'(g) = s (1 + g (1 - s)), s = sigmoid(g).
template <typename T>
MOESCOPE_ALWAYS_INLINE inline float hidden_row_backward(const T* g, const T* u, float wi, const T* d, T* hw, T* dg,
                                                        T* du, int64_t F) {
  float acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t f = 0; f < F; ++f) {
    const float gv = static_cast<float>(g[f]), uv = static_cast<float>(u[f]), dv = static_cast<float>(d[f]);
    const float sg = 1.0f / (1.0f + fast_expf(-gv));
    const float a = gv * sg, h = a * uv, dh = dv * wi;
    hw[f] = static_cast<T>(h * wi);
    acc += h * dv;
    dg[f] = static_cast<T>(dh * uv * sg * (1.0f + gv * (1.0f - sg)));
    du[f] = static_cast<T>(dh * a);
  }
  return acc;
}

// The row kernels per element type, each compiled once per ISA (core/vector_clones.h).
MOESCOPE_VECTOR_CLONES void row(const float* g, const float* u, float wi, float* h, int64_t F) {
  hidden_row(g, u, wi, h, F);
}
MOESCOPE_VECTOR_CLONES void row(const at::BFloat16* g, const at::BFloat16* u, float wi, at::BFloat16* h, int64_t F) {
  hidden_row(g, u, wi, h, F);
}
MOESCOPE_VECTOR_CLONES float row_backward(const float* g, const float* u, float wi, const float* d, float* hw,
                                          float* dg, float* du, int64_t F) {
  return hidden_row_backward(g, u, wi, d, hw, dg, du, F);
}
MOESCOPE_VECTOR_CLONES float row_backward(const at::BFloat16* g, const at::BFloat16* u, float wi, const at::BFloat16* d,
                                          at::BFloat16* hw, at::BFloat16* dg, at::BFloat16* du, int64_t F) {
  return hidden_row_backward(g, u, wi, d, hw, dg, du, F);
}

// h_nF = silu(g) * u * w_n over n rows of gu_n2F (row stride ld = 2F).
template <typename T>
void hidden_rows(const T* gu, int64_t ld, const T* w, T* h, int64_t n, int64_t F) {
  at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) row(gu + i * ld, gu + i * ld + F, static_cast<float>(w[i]), h + i * F, F);
  });
}

// The backward rows: hw [n, F], dg | du into dgu_n2F (stride ld), dw [n].
template <typename T>
void hidden_rows_backward(const T* gu, int64_t ld, const T* w, const T* dhw, T* hw, T* dgu, T* dw, int64_t n,
                          int64_t F) {
  at::parallel_for(0, n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      dw[i] = static_cast<T>(row_backward(gu + i * ld, gu + i * ld + F, static_cast<float>(w[i]), dhw + i * F,
                                          hw + i * F, dgu + i * ld, dgu + i * ld + F, F));
  });
}

struct GroupedSwiGLU : public torch::autograd::Function<GroupedSwiGLU> {
  // weights: E gate, then E up, then E down matrices.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_AD, const at::Tensor& w_A,
                            std::vector<int64_t> sizes, at::TensorList weights) {
    const int64_t E = static_cast<int64_t>(sizes.size()), A = x_AD.size(0), D = x_AD.size(1);
    const int64_t F = weights[0].size(0);
    const auto dt = x_AD.scalar_type();
    auto x = x_AD.contiguous();
    auto w = cast_to(w_A, dt).contiguous();
    // Gate and up outputs side by side in one buffer [A, 2F] (saved for backward); each block's
    // products write straight into it: no per-step concatenation of the expert weights.
    auto gu_A2F = torch::empty({A, 2 * F}, x.options());
    auto y_AD = torch::empty({A, D}, x.options());
    // Gate, up, down in the compute dtype; an expert with no rows keeps its master (never read).
    std::vector<at::Tensor> cast(weights.begin(), weights.end());
    int64_t off = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = sizes[e];
      if (n == 0) continue;
      for (int64_t f = 0; f < 3; ++f) cast[f * E + e] = cast_to(weights[f * E + e], dt);
      auto xb = x.narrow(0, off, n);
      auto g = gu_A2F.narrow(0, off, n).narrow(1, 0, F), u = gu_A2F.narrow(0, off, n).narrow(1, F, F);
      at::mm_out(g, xb, cast[e].t());
      at::mm_out(u, xb, cast[E + e].t());
      at::Tensor h;
      if (fused_row_dtype(x)) {
        h = torch::empty({n, F}, x.options());
        with_row_type(dt, [&](auto t) {
          using T = decltype(t);
          hidden_rows(gu_A2F.data_ptr<T>() + off * 2 * F, 2 * F, w.data_ptr<T>() + off, h.data_ptr<T>(), n, F);
        });
      } else {
        h = torch::silu(g).mul_(u).mul_(w.narrow(0, off, n).unsqueeze(1));
      }
      auto yb = y_AD.narrow(0, off, n);
      at::mm_out(yb, h, cast[2 * E + e].t());
      off += n;
    }
    TORCH_CHECK(off == A, "grouped_swiglu: block sizes sum to ", off, " but x has ", A, " rows");
    ctx->save_for_backward({x, w, gu_A2F});
    ctx->saved_data["sizes"] = sizes;
    ctx->saved_data["w"] = cast;
    ctx->saved_data["w_dtypes_ref"] = weights[0];  // master dtype, for the weight gradients
    return y_AD;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], w = saved[1], gu_A2F = saved[2];
    auto sizes = ctx->saved_data["sizes"].toIntVector();
    auto ws = ctx->saved_data["w"].toTensorVector();
    const auto master = ctx->saved_data["w_dtypes_ref"].toTensor().scalar_type();
    const int64_t E = static_cast<int64_t>(sizes.size()), A = x.size(0), D = x.size(1);
    const int64_t F = gu_A2F.size(1) / 2;
    auto dy = grads[0].contiguous();
    auto dx = torch::empty({A, D}, x.options());
    auto dw = torch::empty({A}, x.options());
    auto dgu_A2F = torch::empty({A, 2 * F}, x.options());
    std::vector<at::Tensor> dWg(E), dWu(E), dWd(E);
    int64_t off = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = sizes[e];
      const auto& wg = ws[e];
      const auto& wu = ws[E + e];
      const auto& wd = ws[2 * E + e];
      if (n == 0) {
        dWg[e] = torch::zeros({F, D}, x.options().dtype(master));
        dWu[e] = torch::zeros({F, D}, x.options().dtype(master));
        dWd[e] = torch::zeros({D, F}, x.options().dtype(master));
        continue;
      }
      auto xb = x.narrow(0, off, n), dyb = dy.narrow(0, off, n), wb = w.narrow(0, off, n).unsqueeze(1);
      auto g = gu_A2F.narrow(0, off, n).narrow(1, 0, F), u = gu_A2F.narrow(0, off, n).narrow(1, F, F);
      auto dgu = dgu_A2F.narrow(0, off, n);
      auto dxb = dx.narrow(0, off, n);
      auto dhw = torch::mm(dyb, wd);  // d(h*w) [n, F]
      if (fused_row_dtype(x)) {
        auto hw = torch::empty({n, F}, x.options());
        with_row_type(x.scalar_type(), [&](auto t) {
          using T = decltype(t);
          hidden_rows_backward(gu_A2F.data_ptr<T>() + off * 2 * F, 2 * F, w.data_ptr<T>() + off, dhw.data_ptr<T>(),
                               hw.data_ptr<T>(), dgu_A2F.data_ptr<T>() + off * 2 * F, dw.data_ptr<T>() + off, n, F);
        });
        dWd[e] = cast_to(torch::mm(dyb.t(), hw), master);
      } else {
        // Nine elementwise passes over [n, F] (silu_backward fuses sigmoid and its derivative);
        // results go straight into the halves of dgu.
        auto a = torch::silu(g);  // silu(g)
        auto h = a * u;           // [n, F] unweighted hidden
        dWd[e] = cast_to(torch::mm(dyb.t(), h * wb), master);
        auto dw_n = dw.narrow(0, off, n);
        at::sum_out(dw_n, h.mul_(dhw), {1});
        auto dh = dhw.mul_(wb);
        auto dg = dgu.narrow(1, 0, F), du = dgu.narrow(1, F, F);
        at::silu_backward_out(dg, dh * u, g);  // dh*u * d silu(g)/dg
        at::mul_out(du, dh, a);
      }
      auto dWgu = torch::mm(dgu.t(), xb);  // [2F, D]
      dWg[e] = cast_to(dWgu.narrow(0, 0, F), master);
      dWu[e] = cast_to(dWgu.narrow(0, F, F), master);
      at::mm_out(dxb, dgu.narrow(1, 0, F), wg);
      dxb.addmm_(dgu.narrow(1, F, F), wu);
      off += n;
    }
    variable_list out{dx, dw, at::Tensor()};
    for (auto* v : {&dWg, &dWu, &dWd}) out.insert(out.end(), v->begin(), v->end());
    return out;
  }
};

}  // namespace

at::Tensor grouped_swiglu(const at::Tensor& x_AD, const at::Tensor& w_A, const std::vector<int64_t>& sizes,
                          const std::vector<at::Tensor>& w_gate, const std::vector<at::Tensor>& w_up,
                          const std::vector<at::Tensor>& w_down) {
  TORCH_CHECK(x_AD.dim() == 2 && w_A.dim() == 1 && w_A.size(0) == x_AD.size(0), "grouped_swiglu: bad shapes");
  TORCH_CHECK(w_gate.size() == sizes.size() && w_up.size() == sizes.size() && w_down.size() == sizes.size(),
              "grouped_swiglu: need one weight triple per block");
  std::vector<at::Tensor> weights(w_gate);
  weights.insert(weights.end(), w_up.begin(), w_up.end());
  weights.insert(weights.end(), w_down.begin(), w_down.end());
  return GroupedSwiGLU::apply(x_AD, w_A, sizes, at::TensorList(weights));
}

}  // namespace moescope
