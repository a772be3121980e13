// flops.h: model FLOPs per token, counted from the config (the denominator of MFU and of the
// "share of matmul peak" figures in bench/). Only matmuls count (2 FLOPs per multiply-add):
// every projection a token passes through (attention, router, top_k routed + shared experts or
// the dense FFN, the LM head) and the attention products over the full S x S score matrix the
// code computes (causal masking is applied after the product, so nothing is skipped).
// Training = forward + backward = 3 x forward.
#pragma once
#include <cstdint>

#include "core/config.h"

namespace moescope {

// Matmul weights one token multiplies through in a forward pass (no embedding lookup).
int64_t active_matmul_params(const ModelConfig& cfg);
// Forward FLOPs per token at sequence length S (attention over S keys).
double forward_flops_per_token(const ModelConfig& cfg, int64_t S);
// Training (forward + backward) FLOPs per token: 3 x forward.
double train_flops_per_token(const ModelConfig& cfg, int64_t S);

}  // namespace moescope
