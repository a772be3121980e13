// grouped_swiglu.cpp: see grouped_swiglu.h.
#include "ops/grouped_swiglu.h"

#include <torch/torch.h>

#include "ops/attention_core.h"

namespace moescope {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

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
      auto h = torch::silu(g).mul_(u).mul_(w.narrow(0, off, n).unsqueeze(1));
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
      // Nine elementwise passes over [n, F] (silu_backward fuses sigmoid and its derivative);
      // results go straight into the halves of dgu.
      auto a = torch::silu(g);               // silu(g)
      auto h = a * u;                        // [n, F] unweighted hidden
      auto dhw = torch::mm(dyb, wd);         // d(h*w) [n, F]
      dWd[e] = cast_to(torch::mm(dyb.t(), h * wb), master);
      auto dw_n = dw.narrow(0, off, n);
      at::sum_out(dw_n, h.mul_(dhw), {1});
      auto dh = dhw.mul_(wb);
      auto dgu = dgu_A2F.narrow(0, off, n);
      auto dg = dgu.narrow(1, 0, F), du = dgu.narrow(1, F, F);
      at::silu_backward_out(dg, dh * u, g);  // dh*u * d silu(g)/dg
      at::mul_out(du, dh, a);
      auto dWgu = torch::mm(dgu.t(), xb);    // [2F, D]
      dWg[e] = cast_to(dWgu.narrow(0, 0, F), master);
      dWu[e] = cast_to(dWgu.narrow(0, F, F), master);
      auto dxb = dx.narrow(0, off, n);
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
