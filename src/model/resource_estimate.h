// resource_estimate.h: parameters and memory of a model, from its config alone (torch-free),
// before anything is allocated. Used by `train` and `selfcheck` (refused, naming the largest
// term and the keys that drive it, when the estimate exceeds the memory available), and by
// anything that builds a model from a config (e.g. an imported Hugging Face model).
//
// Parameters are exact (tests compare them with built models). Bytes, for training at
// train.batch_size x train.seq_len with compute dtype c (2 bytes bf16, 4 fp32; "auto" counts 4):
//   weights      4 P            fp32 masters
//   gradients    4 P
//   AdamW        8 P            exp_avg, exp_avg_sq
//   copies       c P            (bf16 only) the compute copies of the weights, kept for backward
//   activations  B S (L a + V (c + 8)), a per layer and token:
//                4 D c (norms, residual) + attention projections c + H S (2 c + 8) (the S x S
//                scores: raw, masked fp32, softmax fp32, probabilities; with LibTorch 2.x's fused
//                causal kernel instead H (4 w c + 4), w the q/k head width: q, k, padded v, output
//                and the log-sum-exp) + FFN: dense 4 F c;
//                MoE 16 E (router, fp32) + k (2 D + 4 F) c + shared 4 F_s c
//   checkpoint   24 P transient, while a checkpoint is written (optimizer state records, their
//                encoded data and the file image); it does not coincide with the activations.
// Peak for training = weights + gradients + AdamW + copies + max(activations, checkpoint).
// Per rank of a multi-process run (W ranks, expert parallelism P, docs/distributed.md): the
// activations are of the rank's B/W rows; weights, gradients, AdamW and copies count P_rank =
// P - (1 - 1/P) x (the routed experts' weights), the rank's own experts and everything
// replicated; the checkpoint term adds 12 bytes for each expert parameter rank 0 gathers
// (weights and moments) to the 24 P of the write.
// This is an estimate (allocator slack, temporaries and the BLAS workspace come on top); the
// activation term is within a factor of 2 of the measured growth on the presets.
// KV cache for generation: batch 1 at model.max_seq_len, fp32 (kv_cache.h has the layout).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace moescope {

struct ResourceTerm {
  std::string name;  // "activations"
  double bytes = 0;
  std::string driver;  // the config keys that make it large, e.g. "train.seq_len^2 x attn.n_heads (attention scores)"
};

struct ResourceEstimate {
  double params_total = 0, params_active = 0;  // doubles: huge configs must not overflow
  double params_rank = 0;                      // held by one rank (= params_total without EP)
  int world = 1, expert_parallel = 1;
  std::vector<ResourceTerm> resident;    // weights, gradients, AdamW, compute copies
  ResourceTerm activations, checkpoint;  // the larger of these two adds to the resident ones
  ResourceTerm kv_cache;                 // generation, batch 1, model.max_seq_len, fp32
  double train_peak_bytes() const;
  // The largest term of train_peak_bytes().
  const ResourceTerm& largest() const;
  // "weights 1.2 MiB, gradients 1.2 MiB, ... = 9.9 MiB peak; KV cache 3 MiB" (one line).
  std::string summary() const;
};

// Per token and all layers, in bytes of `dtype_bytes` (kv_cache.h uses it for its checks).
//   MLA: (kv_lora_rank + qk_rope_head_dim) * n_layers * bytes
//   MHA: 2 * n_kv_heads * head_dim * n_layers * bytes
int64_t cache_bytes_per_token(const ModelConfig& cfg, int64_t dtype_bytes);

// For one rank of `world` ranks with train.expert_parallel = expert_parallel (1: none).
ResourceEstimate estimate_resources(const ModelConfig& model, const TrainConfig& train, int world = 1,
                                    int expert_parallel = 1);

// Throws std::runtime_error when the training peak exceeds `limit_bytes`: the message gives the
// estimate, the limit and where it comes from (`limit_source`, e.g. "MemAvailable" or
// "--max-memory"), and the largest term with the keys to lower. limit_bytes <= 0: no check.
void check_fits_memory(const ResourceEstimate& e, double limit_bytes, const std::string& limit_source);

}  // namespace moescope
