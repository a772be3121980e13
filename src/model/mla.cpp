// mla.cpp: see mla.h.
#include "model/mla.h"

#include <cmath>

#include <torch/version.h>

#include "model/attention.h"
#include "model/init.h"
#include "ops/attention_core.h"
#include "ops/rope.h"

namespace moescope {

MLAImpl::MLAImpl(const ModelConfig& cfg)
    : H_(cfg.attn.n_heads),
      R_(cfg.attn.kv_lora_rank),
      n_(cfg.attn.qk_nope_head_dim),
      p_(cfg.attn.qk_rope_head_dim),
      v_(cfg.attn.v_head_dim),
      rope_(rope_spec(cfg.attn)),
      scale_(1.0 / std::sqrt(static_cast<double>(cfg.attn.qk_nope_head_dim + cfg.attn.qk_rope_head_dim))) {
  if (cfg.attn.rope_scaling == RopeScaling::kYarn && cfg.attn.yarn_softmax_mscale && cfg.attn.yarn_mscale_all_dim > 0) {
    const double m = yarn_get_mscale(cfg.attn.yarn_factor, cfg.attn.yarn_mscale_all_dim);
    scale_ *= m * m;
  }
  const int64_t D = cfg.d_model, Q = cfg.attn.q_lora_rank;
  const double std = cfg.init_std;
  if (Q > 0) {
    q_a_proj = register_module("q_a_proj", make_linear(D, Q, std));
    q_a_layernorm = register_module("q_a_layernorm", RMSNorm(Q, cfg.norm_eps));
    q_b_proj = register_module("q_b_proj", make_linear(Q, H_ * (n_ + p_), std));
  } else {
    q_proj = register_module("q_proj", make_linear(D, H_ * (n_ + p_), std));
  }
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa", make_linear(D, R_ + p_, std));
  kv_a_layernorm = register_module("kv_a_layernorm", RMSNorm(R_, cfg.norm_eps));
  kv_b_proj = register_module("kv_b_proj", make_linear(R_, H_ * (n_ + v_), std));
  o_proj = register_module("o_proj", make_linear(H_ * v_, D, residual_out_std(std, cfg.n_layers)));
}

at::Tensor MLAImpl::forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache) {
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1);
  at::Tensor q_BSHq;
  if (!q_a_proj.is_empty()) q_BSHq = linear_cast(q_a_layernorm(linear_cast(x_BSD, q_a_proj->weight)), q_b_proj->weight);
  else q_BSHq = linear_cast(x_BSD, q_proj->weight);
  q_BSHq = q_BSHq.view({B, S, H_, n_ + p_});
  auto q_nope_BSHn = q_BSHq.narrow(-1, 0, n_);
  at::Tensor cos, sin;
  rope_tables(start, S, p_, rope_, x_BSD.scalar_type() == at::kDouble, &cos, &sin, &x_BSD);
  auto q_pe_BSHp = apply_rope(q_BSHq.narrow(-1, n_, p_), cos, sin);

  auto kv_a = linear_cast(x_BSD, kv_a_proj_with_mqa->weight);  // [B,S,R+p]
  auto c_kv_BSR = kv_a_layernorm(kv_a.narrow(-1, 0, R_));
  auto k_pe_BSp = apply_rope(kv_a.narrow(-1, R_, p_).unsqueeze(2), cos, sin).squeeze(2);

  at::Tensor attn_BHSL, o_BSHv;
  // Without a cache: per-head keys (nope part) and values from the latent, [B,S,H,n+v].
  at::Tensor kv_BSHx;
  if (!cache) kv_BSHx = linear_cast(c_kv_BSR, kv_b_proj->weight).view({B, S, H_, n_ + v_});
#if TORCH_VERSION_MAJOR >= 2
  // LibTorch 2.x: the fused causal kernel (CPU: flash attention; CUDA: flash or memory-efficient;
  // forward and backward, no [S,S] scores kept). It needs one head width for q, k and v: q = [q_nope | q_pe] and
  // k = [k_nope | k_pe] are n+p wide, v is zero-padded from v to n+p and the padding dropped.
  if (!cache && start == 0 && x_BSD.scalar_type() != at::kDouble && v_ <= n_ + p_) {
    auto q_BHSq = torch::cat({q_nope_BSHn, q_pe_BSHp}, -1).transpose(1, 2);
    auto k_BHSq =
        torch::cat({kv_BSHx.narrow(-1, 0, n_), k_pe_BSp.unsqueeze(2).expand({B, S, H_, p_})}, -1).transpose(1, 2);
    auto v_BHSq = torch::constant_pad_nd(kv_BSHx.narrow(-1, n_, v_), {0, n_ + p_ - v_}).transpose(1, 2);
    auto o_BHSq = at::scaled_dot_product_attention(q_BHSq, k_BHSq, v_BHSq, {}, 0.0, /*is_causal=*/true, scale_);
    o_BSHv = o_BHSq.narrow(-1, 0, v_).transpose(1, 2);  // [B,S,H,v]
    return linear_cast(o_BSHv.reshape({B, S, H_ * v_}), o_proj->weight);
  }
#endif
  if (!cache) {
    // Explicit form: the scores from the materialised per-head keys.
    auto k_nope_BSHn = kv_BSHx.narrow(-1, 0, n_);
    auto v_BSHv = kv_BSHx.narrow(-1, n_, v_);
    auto scores = torch::matmul(q_nope_BSHn.transpose(1, 2), k_nope_BSHn.permute({0, 2, 3, 1}))  // [B,H,S,S]
                  + torch::matmul(q_pe_BSHp.transpose(1, 2), k_pe_BSp.unsqueeze(1).transpose(-2, -1));
    attn_BHSL = causal_softmax(scores * scale_, start);
    o_BSHv = torch::matmul(attn_BHSL, v_BSHv.transpose(1, 2)).transpose(1, 2);  // [B,S,H,v]
  } else {
    // Absorbed form over the cached latent. The latent and the RoPE key are shared by every
    // head, so the heads fold into the rows of one product there (X = H*S); only the two
    // per-head weight products stay batched over heads (T = B*S).
    at::Tensor c_BLR, kpe_BLp;
    std::tie(c_BLR, kpe_BLp) = cache->append(c_kv_BSR, k_pe_BSp);
    const int64_t L = c_BLR.size(1), T = B * S;
    auto w_HxR = cast_to(kv_b_proj->weight, x_BSD.scalar_type()).view({H_, n_ + v_, R_});
    auto w_uk_HnR = w_HxR.narrow(1, 0, n_);
    auto w_uv_HvR = w_HxR.narrow(1, n_, v_);
    auto q_lat_HTR = torch::bmm(q_nope_BSHn.reshape({T, H_, n_}).transpose(0, 1), w_uk_HnR);  // [H,T,R]
    auto q_lat_BXR = q_lat_HTR.view({H_, B, S, R_}).permute({1, 0, 2, 3}).reshape({B, H_ * S, R_});
    auto q_pe_BXp = q_pe_BSHp.permute({0, 2, 1, 3}).reshape({B, H_ * S, p_});
    auto scores_BXL = torch::bmm(q_lat_BXR, c_BLR.transpose(1, 2)).add_(torch::bmm(q_pe_BXp, kpe_BLp.transpose(1, 2)));
    attn_BHSL = causal_softmax(scores_BXL.mul_(scale_).view({B, H_, S, L}), start);
    auto o_lat_BXR = torch::bmm(attn_BHSL.reshape({B, H_ * S, L}), c_BLR);  // [B,X,R]
    auto o_lat_HTR = o_lat_BXR.view({B, H_, S, R_}).permute({1, 0, 2, 3}).reshape({H_, T, R_});
    o_BSHv = torch::bmm(o_lat_HTR, w_uv_HvR.transpose(1, 2)).transpose(0, 1).reshape({B, S, H_, v_});  // [B,S,H,v]
  }
  return linear_cast(o_BSHv.reshape({B, S, H_ * v_}), o_proj->weight);
}

}  // namespace moescope
