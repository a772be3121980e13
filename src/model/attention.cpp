// attention.cpp: see attention.h.
#include "model/attention.h"

#include <cmath>

#include "model/init.h"
#include "ops/attention_core.h"
#include "ops/rope.h"

namespace moescope {
AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : H_(cfg.attn.n_heads),
      G_(cfg.attn.n_kv_heads ? cfg.attn.n_kv_heads : cfg.attn.n_heads),
      hd_(cfg.attn.head_dim ? cfg.attn.head_dim : cfg.d_model / cfg.attn.n_heads),
      theta_(cfg.attn.rope_theta) {
  const double std = cfg.init_std, out_std = residual_out_std(cfg.init_std, cfg.n_layers);
  q_proj = register_module("q_proj", make_linear(cfg.d_model, H_ * hd_, std));
  k_proj = register_module("k_proj", make_linear(cfg.d_model, G_ * hd_, std));
  v_proj = register_module("v_proj", make_linear(cfg.d_model, G_ * hd_, std));
  o_proj = register_module("o_proj", make_linear(H_ * hd_, cfg.d_model, out_std));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache) {
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1);
  auto q = linear_cast(x_BSD, q_proj->weight).view({B, S, H_, hd_});
  auto k = linear_cast(x_BSD, k_proj->weight).view({B, S, G_, hd_});
  auto v = linear_cast(x_BSD, v_proj->weight).view({B, S, G_, hd_});
  at::Tensor cos, sin;
  rope_tables(start, S, hd_, theta_, x_BSD.scalar_type() == at::kDouble, &cos, &sin, &x_BSD);
  q = apply_rope(q, cos, sin);
  k = apply_rope(k, cos, sin);
  if (cache) std::tie(k, v) = cache->append(k, v);  // [B, L, G, hd]
  auto q_BHSd = q.transpose(1, 2);
  auto k_BHLd = k.transpose(1, 2), v_BHLd = v.transpose(1, 2);
  if (G_ != H_) {
    k_BHLd = k_BHLd.repeat_interleave(H_ / G_, 1);
    v_BHLd = v_BHLd.repeat_interleave(H_ / G_, 1);
  }
  auto o = causal_attention(q_BHSd, k_BHLd, v_BHLd, start, 1.0 / std::sqrt(static_cast<double>(hd_)));
  return linear_cast(o.transpose(1, 2).reshape({B, S, H_ * hd_}), o_proj->weight);
}

}  // namespace moescope
