// attention.h: standard causal multi-head attention with optional grouped KV heads (GQA).
// Legend: B batch, S new positions, L = start + S key positions, D width, H heads,
//         G = n_kv_heads, hd head width.
//   q_BSHd = x Wq^T (+ bq), k_BSGd = x Wk^T (+ bk), v_BSGd = x Wv^T (+ bv)   (biases: attn.qkv_bias)
//   attn.qk_norm = full: q = RMSNorm_{H*hd}(q), k = RMSNorm_{G*hd}(k) before the head split (OLMoE);
//                  head: the same per head over hd (Qwen3-MoE)
//   attn.clip_qkv = c > 0: q, k, v clamped to [-c, c] (after the norms, OLMoE)
//   RoPE on q and k; each KV head serves H/G query heads;
//   y = softmax(q k^T / sqrt(hd) + causal) v, then Wo.
// Hugging Face names: q_proj, k_proj, v_proj, o_proj, q_norm, k_norm.
#pragma once
#include <torch/torch.h>

#include "core/config.h"
#include "model/kv_cache.h"
#include "model/norm.h"
#include "ops/rope.h"

namespace moescope {

// The RoPE of a config (rope_theta and YaRN scaling with its cos/sin attention factor).
RopeSpec rope_spec(const AttentionConfig& a);

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& cfg);
  // x_BSD at absolute positions [start, start+S). With a cache, keys/values are appended.
  at::Tensor forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // attn.qk_norm != none

 private:
  int64_t H_, G_, hd_;
  QkNorm qk_norm_;
  double clip_;
  RopeSpec rope_;
};
TORCH_MODULE(Attention);

}  // namespace moescope
