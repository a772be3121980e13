// transformer.cpp: see transformer.h.
#include "model/transformer.h"

#include "model/init.h"
#include "ops/attention_core.h"

namespace moescope {

BlockImpl::BlockImpl(const ModelConfig& cfg, int64_t layer) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  if (cfg.attn.type == AttnType::kMla) mla = register_module("self_attn", MLA(cfg));
  else mha = register_module("self_attn", Attention(cfg));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(cfg.d_model, cfg.norm_eps));
  if (cfg.is_moe_layer(layer)) moe = register_module("mlp", MoELayer(cfg, cfg.n_layers));
  else
    dense = register_module(
        "mlp", SwiGLUMlp(cfg.d_model, cfg.dense_hidden, cfg.init_std, residual_out_std(cfg.init_std, cfg.n_layers)));
}

at::Tensor BlockImpl::forward(const at::Tensor& h_BSD, int64_t start, LayerKVCache* cache) {
  auto a = input_layernorm(h_BSD);
  auto h = h_BSD + (mla.is_empty() ? mha(a, start, cache) : mla(a, start, cache));
  auto m = post_attention_layernorm(h);
  if (!moe.is_empty()) return h + moe(m);
  const auto D = m.size(-1);
  return h + dense(m.reshape({-1, D})).view(m.sizes());
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  embed_tokens = register_module("embed_tokens", make_embedding(cfg.vocab_size, cfg.d_model, cfg.init_std));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < cfg.n_layers; ++l) layers->push_back(Block(cfg, l));
  norm = register_module("norm", RMSNorm(cfg.d_model, cfg.norm_eps));
  if (!cfg.tie_embeddings) lm_head = register_module("lm_head", make_linear(cfg.d_model, cfg.vocab_size, cfg.init_std));
  if (cfg.weight_init == WeightInit::kTorchDefault && !SkipInitScope::active()) apply_torch_default_init(*this);
}

ModelOutput TransformerImpl::forward(const at::Tensor& tokens_BS, int64_t start, KVCache* cache) {
  TORCH_CHECK(tokens_BS.dim() == 2, "model: expected tokens [B, S], got ", tokens_BS.sizes());
  TORCH_CHECK(start + tokens_BS.size(1) <= cfg_.max_seq_len, "model: positions up to ", start + tokens_BS.size(1),
              " exceed model.max_seq_len = ", cfg_.max_seq_len);
  auto h = cast_to(embed_tokens(tokens_BS), compute_dtype);
  ModelOutput out;
  out.aux_loss = torch::zeros({}, torch::TensorOptions().dtype(at::kFloat).device(h.device()));
  if (compute_dtype == at::kDouble) out.aux_loss = out.aux_loss.to(at::kDouble);
  for (size_t l = 0; l < layers->size(); ++l) {
    auto* blk = layers[l]->as<BlockImpl>();
    h = blk->forward(h, start, cache ? &cache->layer(static_cast<int64_t>(l)) : nullptr);
    if (blk->is_moe()) out.aux_loss = out.aux_loss + blk->moe->aux_loss().to(out.aux_loss.scalar_type());
  }
  if (cache) cache->advance(tokens_BS.size(1));
  h = norm(h);
  const auto& w = lm_head.is_empty() ? embed_tokens->weight : lm_head->weight;
  out.logits_BSV = torch::matmul(h, cast_to(w, h.scalar_type()).t());
  return out;
}

std::vector<MoELayerImpl*> TransformerImpl::moe_layers() {
  std::vector<MoELayerImpl*> out;
  for (auto& m : *layers) {
    auto* blk = m->as<BlockImpl>();
    if (blk->is_moe()) out.push_back(blk->moe.get());
  }
  return out;
}

void TransformerImpl::update_router_biases() {
  for (auto* m : moe_layers()) m->update_bias();
}

int64_t TransformerImpl::num_params() const {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

int64_t TransformerImpl::num_active_params() const {
  int64_t n = num_params();
  for (auto& m : *layers) {
    auto* blk = m->as<BlockImpl>();
    if (!blk->is_moe()) continue;
    const auto& mc = blk->moe->cfg();
    int64_t per_expert = 0;
    for (auto& p : blk->moe->experts[0]->parameters()) per_expert += p.numel();
    n -= (mc.n_routed - mc.top_k) * per_expert;
  }
  return n;
}

}  // namespace moescope
