// refit.cpp: see refit.h.
#include "compress/refit.h"

namespace moescope::compress {
namespace {
at::Tensor regularised_gram(const at::Tensor& C_ERD, double ridge) {
  auto G = C_ERD.bmm(C_ERD.transpose(1, 2));
  const int64_t R = G.size(1);
  auto lam = ridge * G.diagonal(0, 1, 2).mean(1) + 1e-12;  // [E]
  return G + lam.view({-1, 1, 1}) * torch::eye(R, G.options());
}
}  // namespace

at::Tensor refit_A(const at::Tensor& Z_EPD, const at::Tensor& C_ERD, double ridge) {
  torch::NoGradGuard ng;
  auto G = regularised_gram(C_ERD, ridge);  // [E, R, R]
  // [E, R, P] = C Z^T, formed as (Z C^T)^T so that Z, the large operand (a whole layer's
  // experts in the streamed compression), enters the bmm as stored, never as a strided view.
  auto rhs = Z_EPD.bmm(C_ERD.transpose(1, 2)).transpose(1, 2);
  auto L = torch::linalg_cholesky(G);
  return torch::cholesky_solve(rhs, L).transpose(1, 2).contiguous();  // (G^-1 C Z^T)^T = Z C^T G^-1
}

double max_refit_condition(const at::Tensor& C_ERD, double ridge) {
  torch::NoGradGuard ng;
  auto ev = torch::linalg_eigvalsh(regularised_gram(C_ERD, ridge));  // ascending, [E, R]
  auto cond = ev.select(1, ev.size(1) - 1) / ev.select(1, 0).clamp_min(1e-300);
  return cond.max().item<double>();
}

at::Tensor project_simplex(const at::Tensor& v_EM) {
  const int64_t M = v_EM.size(1);
  auto u = std::get<0>(v_EM.sort(1, /*descending=*/true));
  auto css = u.cumsum(1) - 1;
  auto k = torch::arange(1, M + 1, v_EM.options());
  auto cond = (u - css / k) > 0;                               // [E, M], true for a prefix
  auto rho = cond.to(torch::kLong).sum(1, true).clamp_min(1);  // [E, 1]
  auto theta = css.gather(1, rho - 1) / rho.to(v_EM.scalar_type());
  return (v_EM - theta).clamp_min(0);
}

at::Tensor logits_from_alpha(const at::Tensor& alpha_EM) { return torch::log(alpha_EM.clamp_min(0)).clamp_min(-80.0); }

}  // namespace moescope::compress
