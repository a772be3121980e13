// attention_core.h: causal softmax attention shared by MHA/GQA and MLA.
// Legend: B batch, H heads, S new (query) positions, L cached+new key positions,
//         dk key width, dv value width. Query i sits at absolute position start + i and may
//         attend to keys 0..start+i (L = start + S).
#pragma once
#include <cstdint>

#include "ops/tensor_fwd.h"

namespace moescope {

// scores_BHSL (any float dtype) -> probabilities, causally masked, softmax in fp32 (fp64 for
// double), returned in the scores' dtype.
at::Tensor causal_softmax(const at::Tensor& scores_BHSL, int64_t start);

// q_BHSd [B,H,S,dk], k_BHLd [B,H,L,dk], v_BHLv [B,H,L,dv] -> [B,H,S,dv]. With LibTorch 2.x, a
// whole sequence (start 0, L = S) with dk = dv in fp32/bf16 runs the fused causal
// kernel (scaled_dot_product_attention); otherwise scores, causal_softmax and the value product.
at::Tensor causal_attention(const at::Tensor& q_BHSd, const at::Tensor& k_BHLd, const at::Tensor& v_BHLv, int64_t start,
                            double scale);

// t in dtype dt: t itself when it already is (no dispatch at all: decoding calls this ~100
// times per token), else a converted copy.
at::Tensor cast_to(const at::Tensor& t, c10::ScalarType dt);

// x [..., in] times a Linear weight [out, in] cast to x's dtype (fp32 masters, bf16 compute).
at::Tensor linear_cast(const at::Tensor& x, const at::Tensor& weight);

}  // namespace moescope
