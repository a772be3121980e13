// attention.h: standard causal multi-head attention with optional grouped KV heads (GQA).
// Legend: B batch, S new positions, L = start + S key positions, D width, H heads,
//         G = n_kv_heads, hd head width.
//   q_BSHd = x Wq^T, k_BSGd = x Wk^T, v_BSGd = x Wv^T; RoPE on q and k; each KV head serves
//   H/G query heads; y = softmax(q k^T / sqrt(hd) + causal) v, then Wo.
// Hugging Face names: q_proj, k_proj, v_proj, o_proj (no biases).
#pragma once
#include <torch/torch.h>

#include "core/config.h"
#include "model/kv_cache.h"

namespace moescope {

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& cfg);
  // x_BSD at absolute positions [start, start+S). With a cache, keys/values are appended.
  at::Tensor forward(const at::Tensor& x_BSD, int64_t start, LayerKVCache* cache);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t H_, G_, hd_;
  double theta_;
};
TORCH_MODULE(Attention);

}  // namespace moescope
