// mla.h: Multi-head Latent Attention (DeepSeek-V2/V3).
//
// Legend: B batch, S new positions, L = start + S key positions, D width, H heads,
//         R kv_lora_rank, Q q_lora_rank, n qk_nope_head_dim, p qk_rope_head_dim, v v_head_dim.
//   q_BSH(n+p) = q_b(norm(q_a(x)))  (or q_proj(x) when Q = 0); split into q_nope, q_pe (RoPE)
//   [c_kv | k_pe] = kv_a_proj_with_mqa(x) : [B,S,R+p];  c_kv = norm(c_kv);  k_pe = RoPE(k_pe),
//                   one RoPE key shared by all heads
//   [k_nope | v]  = kv_b_proj(c_kv) : [B,L,H,n+v]
//   score = (q_nope . k_nope + q_pe . k_pe) / sqrt(n + p), causal softmax, y = o_proj(attn v)
//   (YaRN: RoPE per attention.h rope_spec; attn.yarn_softmax_mscale multiplies the score scale
//   by yarn_get_mscale(factor, mscale_all_dim)^2 as DeepSeek-V3 does)
// The cache holds only c_kv [B,L,R] and k_pe [B,L,p]. With a cache the forward uses the
// "absorbed" form: q_nope is mapped into latent space through kv_b's key half (W_uk), scores
// are taken against c_kv directly, and values are read from the latent through W_uv, so
// k_nope and v are never materialised per position. Without a cache the explicit form runs
// (with LibTorch 2.x in fp32/bf16: the fused causal kernel, v zero-padded to n+p).
// Hugging Face names: q_proj | q_a_proj, q_a_layernorm, q_b_proj; kv_a_proj_with_mqa,
// kv_a_layernorm, kv_b_proj, o_proj.
#pragma once
#include <torch/torch.h>

#include "core/config.h"
#include "model/kv_cache.h"
#include "model/norm.h"
#include "ops/rope.h"

namespace moescope {

class MLAImpl : public torch::nn::Module {
 public:
  explicit MLAImpl(const ModelConfig& cfg);
  at::Tensor forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache);

  torch::nn::Linear q_proj{nullptr}, q_a_proj{nullptr}, q_b_proj{nullptr};
  RMSNorm q_a_layernorm{nullptr}, kv_a_layernorm{nullptr};
  torch::nn::Linear kv_a_proj_with_mqa{nullptr}, kv_b_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t H_, R_, n_, p_, v_;
  RopeSpec rope_;
  double scale_;
};
TORCH_MODULE(MLA);

}  // namespace moescope
