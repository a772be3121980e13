// basis_model.cpp: see basis_model.h.
#include "compress/basis_model.h"

#include <stdexcept>

namespace moescope::compress {

Activation parse_activation(const std::string& n) { return parse_enum_or_throw<Activation>("compress: activation", n); }

std::string activation_name(Activation f) { return enum_name(f); }

at::Tensor apply_f(Activation f, const at::Tensor& x) {
  switch (f) {
    case Activation::kIdentity: return x;
    case Activation::kSilu: return torch::silu(x);
    case Activation::kTanh: return torch::tanh(x);
  }
  return x;
}

at::Tensor apply_f_prime(Activation f, const at::Tensor& x) {
  switch (f) {
    case Activation::kIdentity: return torch::ones_like(x);
    case Activation::kSilu: {
      auto s = torch::sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case Activation::kTanh: {
      auto t = torch::tanh(x);
      return 1 - t * t;
    }
  }
  return torch::ones_like(x);
}

int64_t BasisGroup::num_params() const { return A_EPR.numel() + B_MRD.numel() + logits_EM.numel() + mean_E.numel(); }

at::Tensor mixture(const at::Tensor& logits_EM) { return torch::softmax(logits_EM, 1); }

at::Tensor combine(Activation f, const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  const int64_t M = B_MRD.size(0), R = B_MRD.size(1), D = B_MRD.size(2);
  auto pre_ERD = alpha_EM.matmul(B_MRD.reshape({M, R * D})).reshape({-1, R, D});
  return apply_f(f, pre_ERD);
}

at::Tensor compose(Activation f, const at::Tensor& A_EPR, const at::Tensor& alpha_EM, const at::Tensor& B_MRD) {
  return A_EPR.bmm(combine(f, alpha_EM, B_MRD));
}

at::Tensor compose_group(const BasisGroup& g) {
  torch::NoGradGuard ng;
  auto A = g.A_EPR.to(torch::kDouble), B = g.B_MRD.to(torch::kDouble);
  auto W = compose(g.f, A, mixture(g.logits_EM.to(torch::kDouble)), B) + g.mean_E.to(torch::kDouble).view({-1, 1, 1});
  return W.to(torch::kFloat);
}

at::Tensor compose_naive(Activation f, const at::Tensor& A_PR, const at::Tensor& alpha_M, const at::Tensor& B_MRD) {
  const int64_t M = B_MRD.size(0), R = B_MRD.size(1), D = B_MRD.size(2), P = A_PR.size(0);
  auto pre = torch::zeros({R, D}, B_MRD.options());
  for (int64_t j = 0; j < M; ++j) pre += alpha_M[j] * B_MRD[j];
  auto C = apply_f(f, pre);
  auto W = torch::zeros({P, D}, B_MRD.options());
  for (int64_t p = 0; p < P; ++p)
    for (int64_t r = 0; r < R; ++r) W[p] += A_PR[p][r] * C[r];
  return W;
}

}  // namespace moescope::compress
