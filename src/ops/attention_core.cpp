// attention_core.cpp: see attention_core.h.
#include "ops/attention_core.h"

#include <torch/version.h>

#include <limits>

#include <torch/torch.h>

namespace moescope {

at::Tensor causal_softmax(const at::Tensor& scores_BHSL, int64_t start) {
  const int64_t S = scores_BHSL.size(-2), L = scores_BHSL.size(-1);
  TORCH_CHECK(L == start + S, "causal_softmax: key length ", L, " != start ", start, " + S ", S);
  auto acc = scores_BHSL.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto s = cast_to(scores_BHSL, acc);
  if (S > 1) {
    auto opts = torch::TensorOptions().dtype(torch::kLong).device(s.device());
    auto qpos = torch::arange(start, start + S, opts).unsqueeze(1);  // [S, 1]
    auto kpos = torch::arange(0, L, opts).unsqueeze(0);              // [1, L]
    s = s.masked_fill(kpos > qpos, -std::numeric_limits<double>::infinity());
  }
  return cast_to(torch::softmax(s, -1), scores_BHSL.scalar_type());
}

at::Tensor causal_attention(const at::Tensor& q_BHSd, const at::Tensor& k_BHLd, const at::Tensor& v_BHLv, int64_t start,
                            double scale) {
#if TORCH_VERSION_MAJOR >= 2
  // A whole sequence: LibTorch 2.x's fused causal kernel (q, k, v of one head width). fp64 keeps
  // the explicit form below (the gradient checks' reference).
  if (start == 0 && q_BHSd.size(-2) == k_BHLd.size(-2) && q_BHSd.size(-1) == v_BHLv.size(-1) &&
      q_BHSd.scalar_type() != at::kDouble)
    return at::scaled_dot_product_attention(q_BHSd, k_BHLd, v_BHLv, {}, 0.0, /*is_causal=*/true, scale);
#endif
  auto scores = torch::matmul(q_BHSd, k_BHLd.transpose(-2, -1)) * scale;
  return torch::matmul(causal_softmax(scores, start), v_BHLv);
}

at::Tensor cast_to(const at::Tensor& t, c10::ScalarType dt) { return t.scalar_type() == dt ? t : t.to(dt); }

at::Tensor linear_cast(const at::Tensor& x, const at::Tensor& weight) {
  return torch::matmul(x, cast_to(weight, x.scalar_type()).t());
}

}  // namespace moescope
