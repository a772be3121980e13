// basis_model.h: the Mixture-of-Basis-Experts factorisation of one bank's experts.
//
// Legend: E experts sharing the bank, P expert hidden (rows of W), D model width (columns),
//         R rank, M bases.
//   alpha_EM = softmax(logits_EM)                      (each expert's mixture, on the simplex)
//   C_ERD    = f(einsum(alpha_EM, B_MRD))              (f: identity, silu or tanh)
//   W_EPD    = A_EPR @ C_ERD + mean_E                  (mean_E: the layer's normalisation shift)
// The normalisation std is folded into A (compressed_run stores A already scaled).
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/config_enums.h"

namespace moescope::compress {

using moescope::Activation;                            // compress.activation (core/config_enums.h)
Activation parse_activation(const std::string& name);  // throws naming the bad value
std::string activation_name(Activation f);
at::Tensor apply_f(Activation f, const at::Tensor& x);
at::Tensor apply_f_prime(Activation f, const at::Tensor& x);  // elementwise derivative

// One bank and the experts it serves (a per-layer family, or a family across all layers).
struct BasisGroup {
  std::string name;                   // "layer1.gate", or "global.gate" for the global bank
  int64_t layer = -1;                 // -1 for the global bank
  std::string family;                 // "gate" or "up"
  std::vector<int64_t> expert_layer;  // [E] the transformer layer of each row
  std::vector<int64_t> expert_index;  // [E] the routed-expert index within that layer
  Activation f = Activation::kIdentity;
  at::Tensor A_EPR, B_MRD, logits_EM;  // factors (A includes the normalisation std)
  at::Tensor mean_E;                   // normalisation shift per expert (its layer's scalar mean)

  int64_t E() const { return B_MRD.defined() ? A_EPR.size(0) : 0; }
  int64_t P() const { return A_EPR.size(1); }
  int64_t R() const { return A_EPR.size(2); }
  int64_t M() const { return B_MRD.size(0); }
  int64_t D() const { return B_MRD.size(2); }
  // Stored parameters: A, B, alpha logits and the mean (the std lives inside A).
  int64_t num_params() const;
};

// alpha_EM, C_ERD and W_EPD (without the mean) in the factors' dtype; autograd flows through.
at::Tensor mixture(const at::Tensor& logits_EM);
at::Tensor combine(Activation f, const at::Tensor& alpha_EM, const at::Tensor& B_MRD);
at::Tensor compose(Activation f, const at::Tensor& A_EPR, const at::Tensor& alpha_EM, const at::Tensor& B_MRD);
// Every expert's full matrix W_EPD, including the mean (float32).
at::Tensor compose_group(const BasisGroup& g);

// Naive reference: one expert's W as explicit loops over bases and rows (tests).
at::Tensor compose_naive(Activation f, const at::Tensor& A_PR, const at::Tensor& alpha_M, const at::Tensor& B_MRD);

}  // namespace moescope::compress
