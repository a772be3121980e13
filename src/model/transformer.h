// transformer.h: the decoder-only model: embedding, pre-norm blocks, final norm, head.
// Legend: B batch, S positions, D width, V vocabulary.
//   h = embed(tokens_BS)
//   for each layer: h += attn(input_layernorm(h)); h += mlp(post_attention_layernorm(h))
//   logits_BSV = lm_head(norm(h))   (lm_head shares embed_tokens.weight when tied)
// mlp is a dense SwiGLU for layers < moe.first_k_dense (or all layers when ffn = "dense"),
// else a DeepSeekMoE layer. Attention is MLA or MHA/GQA per attn.type.
#pragma once
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "model/attention.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/norm.h"

namespace moescope {

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& cfg, int64_t layer);
  at::Tensor forward(const at::Tensor& h_BSD, int64_t start, LayerKVCache* cache);
  bool is_moe() const { return !moe.is_empty(); }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  MLA mla{nullptr};          // registered as "self_attn" when attn.type = mla
  Attention mha{nullptr};    // registered as "self_attn" when attn.type = mha
  SwiGLUMlp dense{nullptr};  // registered as "mlp" on dense layers
  MoELayer moe{nullptr};     // registered as "mlp" on MoE layers
};
TORCH_MODULE(Block);

struct ModelOutput {
  at::Tensor logits_BSV;
  at::Tensor aux_loss;  // scalar sum of every MoE layer's balance/z terms (differentiable)
};

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& cfg);
  // tokens_BS int64 at positions [start, start+S); cache (optional) is advanced by S.
  ModelOutput forward(const at::Tensor& tokens_BS, int64_t start = 0, KVCache* cache = nullptr);

  std::vector<MoELayerImpl*> moe_layers();
  // Aux-loss-free balancing: applies each MoE layer's bias update from its pending counts.
  void update_router_biases();
  // Parameter counts: total, and "active" per token (shared + top_k routed experts only).
  int64_t num_params() const;
  int64_t num_active_params() const;

  const ModelConfig& cfg() const { return cfg_; }
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear lm_head{nullptr};         // null when tied
  at::ScalarType compute_dtype = at::kFloat;  // activations dtype (fp32 masters always)

 private:
  ModelConfig cfg_;
};
TORCH_MODULE(Transformer);

}  // namespace moescope
