// kv_cache.cpp: see kv_cache.h.
#include "model/kv_cache.h"

#include <torch/torch.h>

namespace moescope {
namespace {
int64_t kv_heads(const ModelConfig& c) { return c.attn.n_kv_heads ? c.attn.n_kv_heads : c.attn.n_heads; }
int64_t head_dim(const ModelConfig& c) { return c.attn.head_dim ? c.attn.head_dim : c.d_model / c.attn.n_heads; }
}  // namespace

std::pair<at::Tensor, at::Tensor> LayerKVCache::append(const at::Tensor& new_a, const at::Tensor& new_b) {
  const int64_t S = new_a.size(1);
  TORCH_CHECK(len + S <= a.size(1), "KV cache overflow: ", len + S, " positions > capacity ", a.size(1));
  a.narrow(1, len, S).copy_(new_a.detach());
  b.narrow(1, len, S).copy_(new_b.detach());
  return {a.narrow(1, 0, len + S), b.narrow(1, 0, len + S)};
}

KVCache::KVCache(const ModelConfig& cfg, int64_t batch, int64_t max_len, at::ScalarType dtype, at::Device device)
    : batch_(batch), max_len_(max_len) {
  TORCH_CHECK(batch > 0 && max_len > 0, "KVCache: batch and max_len must be > 0");
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    LayerKVCache c;
    if (cfg.attn.type == AttnType::kMla) {
      c.a = torch::zeros({batch, max_len, cfg.attn.kv_lora_rank}, opts);
      c.b = torch::zeros({batch, max_len, cfg.attn.qk_rope_head_dim}, opts);
    } else {
      c.a = torch::zeros({batch, max_len, kv_heads(cfg), head_dim(cfg)}, opts);
      c.b = torch::zeros({batch, max_len, kv_heads(cfg), head_dim(cfg)}, opts);
    }
    layers_.push_back(c);
  }
}

void KVCache::advance(int64_t n) {
  len_ += n;
  for (auto& l : layers_) l.len = len_;
}

void KVCache::reset() {
  len_ = 0;
  for (auto& l : layers_) l.len = 0;
}

int64_t KVCache::bytes_per_token() const {
  int64_t bytes = 0;
  for (auto& l : layers_) bytes += l.a.numel() * l.a.element_size() + l.b.numel() * l.b.element_size();
  return bytes / (batch_ * max_len_);
}

}  // namespace moescope
