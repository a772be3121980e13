// flops.cpp: see flops.h.
#include "model/flops.h"

namespace moescope {
namespace {

int64_t attention_params(const ModelConfig& c) {
  const auto& a = c.attn;
  const int64_t D = c.d_model, H = a.n_heads;
  if (a.type == AttnType::kMla) {
    const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    const int64_t q = a.q_lora_rank > 0 ? D * a.q_lora_rank + a.q_lora_rank * H * qk : D * H * qk;
    return q + D * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank * H * (a.qk_nope_head_dim + a.v_head_dim) +
           H * a.v_head_dim * D;
  }
  const int64_t hd = a.head_dim > 0 ? a.head_dim : D / H, kv = a.n_kv_heads > 0 ? a.n_kv_heads : H;
  return D * H * hd + 2 * D * kv * hd + H * hd * D;
}

// Per token and per key position: q.k over the query/key width plus p.v over the value width.
int64_t attention_width(const ModelConfig& c) {
  const auto& a = c.attn;
  if (a.type == AttnType::kMla) return a.n_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim);
  const int64_t hd = a.head_dim > 0 ? a.head_dim : c.d_model / a.n_heads;
  return 2 * a.n_heads * hd;
}

}  // namespace

int64_t active_matmul_params(const ModelConfig& c) {
  const int64_t D = c.d_model;
  int64_t n = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    n += attention_params(c);
    if (c.is_moe_layer(l)) {
      const auto& m = c.moe;
      const int64_t shared =
          m.n_shared > 0 ? (m.shared_hidden > 0 ? m.shared_hidden : m.n_shared * m.expert_hidden) : 0;
      n += D * m.n_routed + 3 * D * (m.top_k * m.expert_hidden + shared);
    } else {
      n += 3 * D * c.dense_hidden;
    }
  }
  return n + D * c.vocab_size;  // LM head (tied or not, it is a matmul)
}

double forward_flops_per_token(const ModelConfig& c, int64_t S) {
  return 2.0 * static_cast<double>(active_matmul_params(c)) +
         2.0 * static_cast<double>(c.n_layers * attention_width(c)) * static_cast<double>(S);
}

double train_flops_per_token(const ModelConfig& c, int64_t S) { return 3.0 * forward_flops_per_token(c, S); }

}  // namespace moescope
