// compress_test_util.h: planted basis-expert problems for the compression tests.
// Legend: E experts, P rows, D width, R rank, M bases (compress/basis_model.h).
#pragma once
#include <torch/torch.h>

#include "compress/basis_model.h"
#include "compress/normalise.h"

namespace moescope::testing {

// Experts generated from a known basis: W_i = scale * A_i f(sum_j alpha_ij B_j) + offset, with
// alpha = softmax of sharpened Gaussian logits (so each expert leans on a few bases). With
// centred = true every basis row has zero mean, so (f = identity) the experts' mean is exactly
// `offset` and the z-scored problem is still exactly representable.
struct Planted {
  at::Tensor A_EPR, B_MRD, alpha_EM, W_EPD;
};

inline Planted planted(int64_t E, int64_t P, int64_t D, int64_t R, int64_t M, compress::Activation f, uint64_t seed,
                       double scale = 1.0, double offset = 0.0, bool centred = false, double sharpness = 2.0) {
  torch::manual_seed(seed);
  Planted p;
  auto o = torch::TensorOptions().dtype(torch::kDouble);
  p.A_EPR = torch::randn({E, P, R}, o) / std::sqrt(double(R));
  p.B_MRD = torch::randn({M, R, D}, o);
  if (centred) p.B_MRD = p.B_MRD - p.B_MRD.mean(2, true);
  p.alpha_EM = torch::softmax(sharpness * torch::randn({E, M}, o), 1);
  p.W_EPD = compress::compose(f, p.A_EPR, p.alpha_EM, p.B_MRD) * scale + offset;
  return p;
}

}  // namespace moescope::testing
