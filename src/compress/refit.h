// refit.h: closed-form pieces shared by the initialisers and the alternating solver.
// Legend: E experts, P rows, D width, R rank, M bases (basis_model.h).
#pragma once
#include <torch/torch.h>

#include "compress/solver.h"

namespace moescope::compress {

// A_i = Z_i C_i^T (C_i C_i^T + lambda_i I)^-1 for every expert at once (batched Cholesky),
// lambda_i = ridge * mean(diag(C_i C_i^T)) (plus a tiny floor so an all-zero C stays solvable).
at::Tensor refit_A(const at::Tensor& Z_EPD, const at::Tensor& C_ERD, double ridge);
// Largest condition number over experts of that regularised Gram.
double max_refit_condition(const at::Tensor& C_ERD, double ridge);
// Euclidean projection of every row onto the probability simplex (Duchi et al. 2008).
at::Tensor project_simplex(const at::Tensor& v_EM);
// Analytic gradients that the alternating solver's coding and (silu/tanh) bank steps use
// (solver_altmin.cpp): of sum_i ||Z_i - A_i f(alpha_i B)||^2 w.r.t. alpha (per expert, so
// unweighted), and of the weighted sum_i w_i ||...||^2 w.r.t. the shared bank B (w: solver.h).
at::Tensor error_grad_alpha(const GroupState& g, Activation f, const at::Tensor& alpha_EM);  // [E, M]
at::Tensor error_grad_bank(const GroupState& g, Activation f, const at::Tensor& alpha_EM,
                           const at::Tensor& B_MRD);  // [M, R, D]
// Logits whose softmax is alpha (zeros map to a logit of -80, i.e. ~1e-35).
at::Tensor logits_from_alpha(const at::Tensor& alpha_EM);

}  // namespace moescope::compress
