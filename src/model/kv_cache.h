// kv_cache.h: per-layer key/value cache for incremental decoding.
//   MHA/GQA layer: a = keys   [B, Lmax, Hkv, hd],  b = values [B, Lmax, Hkv, hd]
//   MLA layer:     a = c_kv   [B, Lmax, kv_lora_rank] (normalised latent),
//                  b = k_pe   [B, Lmax, qk_rope_head_dim] (RoPE'd shared key)
// Buffers are allocated once at Lmax; `len` counts the filled positions.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/config.h"
#include "model/resource_estimate.h"  // cache_bytes_per_token, the analytic size

namespace moescope {

struct LayerKVCache {
  at::Tensor a, b;
  int64_t len = 0;
  // Writes new_a/new_b ([B, S, ...]) at positions [len, len+S) and returns the filled views
  // [B, len+S, ...] (does not advance len; the model advances all layers together).
  std::pair<at::Tensor, at::Tensor> append(const at::Tensor& new_a, const at::Tensor& new_b);
};

class KVCache {
 public:
  KVCache(const ModelConfig& cfg, int64_t batch, int64_t max_len, at::ScalarType dtype, at::Device device);
  LayerKVCache& layer(int64_t l) { return layers_.at(static_cast<size_t>(l)); }
  int64_t length() const { return len_; }
  void advance(int64_t n);  // after a forward of n new positions
  void reset();
  // Bytes held per cached token position (all layers, per sequence), measured from the buffers.
  int64_t bytes_per_token() const;

 private:
  std::vector<LayerKVCache> layers_;
  int64_t batch_, max_len_, len_ = 0;
};

}  // namespace moescope
