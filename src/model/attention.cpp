// attention.cpp: see attention.h.
#include "model/attention.h"

#include <cmath>

#include "model/init.h"
#include "ops/attention_core.h"

namespace moescope {
namespace {
torch::nn::Linear linear_maybe_bias(int64_t in, int64_t out, double std, bool bias) {
  if (!bias) return make_linear(in, out, std);
  auto l = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(true));
  torch::NoGradGuard ng;
  l->weight.normal_(0.0, std);
  l->bias.zero_();
  return l;
}
at::Tensor project(const at::Tensor& x, const torch::nn::Linear& l) {
  auto y = linear_cast(x, l->weight);
  return l->bias.defined() ? y + cast_to(l->bias, y.scalar_type()) : y;
}
}  // namespace

RopeSpec rope_spec(const AttentionConfig& a) {
  RopeSpec s;
  s.theta = a.rope_theta;
  if (a.rope_scaling == RopeScaling::kYarn) {
    s.yarn_factor = a.yarn_factor;
    s.yarn_original_max = a.yarn_original_max_position;
    s.beta_fast = a.yarn_beta_fast;
    s.beta_slow = a.yarn_beta_slow;
    s.attention_factor =
        (a.yarn_mscale > 0 && a.yarn_mscale_all_dim > 0)
            ? yarn_get_mscale(a.yarn_factor, a.yarn_mscale) / yarn_get_mscale(a.yarn_factor, a.yarn_mscale_all_dim)
            : yarn_get_mscale(a.yarn_factor, 1.0);
  }
  return s;
}

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : H_(cfg.attn.n_heads),
      G_(cfg.attn.n_kv_heads ? cfg.attn.n_kv_heads : cfg.attn.n_heads),
      hd_(cfg.attn.head_dim ? cfg.attn.head_dim : cfg.d_model / cfg.attn.n_heads),
      qk_norm_(cfg.attn.qk_norm),
      clip_(cfg.attn.clip_qkv),
      rope_(rope_spec(cfg.attn)) {
  const double std = cfg.init_std, out_std = residual_out_std(cfg.init_std, cfg.n_layers);
  const bool b = cfg.attn.qkv_bias;
  q_proj = register_module("q_proj", linear_maybe_bias(cfg.d_model, H_ * hd_, std, b));
  k_proj = register_module("k_proj", linear_maybe_bias(cfg.d_model, G_ * hd_, std, b));
  v_proj = register_module("v_proj", linear_maybe_bias(cfg.d_model, G_ * hd_, std, b));
  o_proj = register_module("o_proj", make_linear(H_ * hd_, cfg.d_model, out_std));
  if (qk_norm_ == QkNorm::kFull) {
    q_norm = register_module("q_norm", RMSNorm(H_ * hd_, cfg.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(G_ * hd_, cfg.norm_eps));
  } else if (qk_norm_ == QkNorm::kHead) {
    q_norm = register_module("q_norm", RMSNorm(hd_, cfg.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(hd_, cfg.norm_eps));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache) {
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1);
  auto q = project(x_BSD, q_proj);
  auto k = project(x_BSD, k_proj);
  auto v = project(x_BSD, v_proj);
  if (qk_norm_ == QkNorm::kFull) {
    q = q_norm(q);
    k = k_norm(k);
  }
  q = q.view({B, S, H_, hd_});
  k = k.view({B, S, G_, hd_});
  v = v.view({B, S, G_, hd_});
  if (qk_norm_ == QkNorm::kHead) {
    q = q_norm(q);
    k = k_norm(k);
  }
  if (clip_ > 0) {
    q = q.clamp(-clip_, clip_);
    k = k.clamp(-clip_, clip_);
    v = v.clamp(-clip_, clip_);
  }
  at::Tensor cos, sin;
  rope_tables(start, S, hd_, rope_, x_BSD.scalar_type() == at::kDouble, &cos, &sin, &x_BSD);
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
