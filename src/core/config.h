// config.h: plain config structs with defaults at the fields, validate() naming the bad
// value, and a FieldTable binding (dotted keys, e.g. "moe.top_k") for TOML / --set / JSON.
#pragma once
#include <cstdint>
#include <string>

#include "core/fields.h"

namespace moescope {

struct AttentionConfig {
  std::string type = "mla";       // "mla" (DeepSeek-V2/V3 latent attention) or "mha" (GQA if n_kv_heads < n_heads)
  int64_t n_heads = 4;
  // Standard attention.
  int64_t n_kv_heads = 0;         // 0 = n_heads
  int64_t head_dim = 0;           // 0 = d_model / n_heads
  // Multi-head latent attention.
  int64_t q_lora_rank = 0;        // 0 = full-rank query projection
  int64_t kv_lora_rank = 32;      // width of the cached, RMS-normalised KV latent
  int64_t qk_nope_head_dim = 32;  // per-head query/key part without RoPE
  int64_t qk_rope_head_dim = 16;  // decoupled RoPE key, shared by all heads
  int64_t v_head_dim = 32;
  double rope_theta = 10000.0;
};

struct MoEConfig {
  int64_t n_routed = 8;           // routed experts E
  int64_t n_shared = 1;           // shared experts (every token)
  int64_t expert_hidden = 512;    // hidden size F of one routed expert
  int64_t shared_hidden = 0;      // hidden size of the fused shared expert; 0 = n_shared * expert_hidden
  int64_t top_k = 2;
  int64_t first_k_dense = 0;      // the first layers use a dense FFN (as DeepSeek-V3)
  std::string score_func = "softmax";  // "softmax" or "sigmoid", computed in fp32
  bool norm_topk_prob = true;     // renormalise the selected weights to sum to 1
  double routed_scaling_factor = 1.0;
  int64_t n_group = 1;            // group-limited routing: experts in n_group groups,
  int64_t topk_group = 1;         //   tokens may use only topk_group of them
  std::string jitter = "none";    // "none", "input" (x *= U(1-eps,1+eps)) or "logits" (logits += N(0,eps^2)); training only
  double jitter_eps = 0.0;
  // Auxiliary-loss-free balancing (DeepSeek-V3): selection-only bias, updated per optimizer step.
  bool bias_balance = true;
  double bias_update_rate = 0.001;  // u in b_i += u * sign(mean_load - load_i)
  bool bias_zero_center = false;    // subtract the mean of each update
  // Losses (coefficients; 0 disables).
  double aux_loss_alpha = 0.0;      // Switch/GShard: alpha * E * sum_i f_i P_i
  double seq_aux_loss_alpha = 0.0;  // DeepSeek-V3 sequence-wise balance loss
  double z_loss_beta = 0.0;         // beta * mean(logsumexp(logits)^2)
  // Capacity: 0 = dropless; else capacity = ceil(factor * T * k / E) slots per expert.
  double capacity_factor = 0.0;
  std::string drop_policy = "score";  // "score" (lowest gate weight dropped first) or "position" (later tokens first)
};

struct ModelConfig {
  int64_t vocab_size = 256;
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t max_seq_len = 256;
  std::string ffn = "moe";        // "moe" or "dense"
  int64_t dense_hidden = 1024;    // hidden size of dense SwiGLU layers
  bool tie_embeddings = false;
  double norm_eps = 1e-6;
  double init_std = 0.02;
  AttentionConfig attn;
  MoEConfig moe;

  bool is_moe_layer(int64_t layer) const { return ffn == "moe" && layer >= moe.first_k_dense; }
  int64_t n_moe_layers() const;
  // Throws std::invalid_argument naming the field and the bad value.
  void validate() const;
  void bind(FieldTable& t, const std::string& prefix = "model");
};

struct DataConfig {
  std::string path = "";          // UTF-8 text file; empty = the default corpus (Brown, prepared by setup)
  std::string tokenizer = "char";  // "char", "byte", "bpe" (sentencepiece, trained on the corpus) or
                                   // "hf:PATH" (a Hugging Face tokenizer.json, or its directory)
  int64_t bpe_vocab_size = 2048;
  double val_fraction = 0.1;      // the last fraction of the tokens is the validation split
  std::string cache_dir = "";     // tokenised-corpus cache; empty = $XDG_CACHE_HOME/moescope or ~/.cache/moescope
  void validate() const;
  void bind(FieldTable& t);
};

struct TrainConfig {
  std::string device = "auto";    // "cpu", "cuda" or "auto"
  std::string dtype = "auto";     // compute dtype: "auto", "bf16" or "fp32" (masters, router, losses stay fp32);
                                  // "auto" = bf16 where native (CUDA cc >= 8.0, avx512_bf16/amx_bf16), else fp32,
                                  // resolved once at the start of a run and saved resolved in config.json
  int64_t seed = 1234;
  int64_t batch_size = 8;         // sequences per micro-batch
  int64_t seq_len = 256;
  int64_t grad_accum = 1;         // micro-batches per optimizer step
  int64_t max_steps = 1000;
  double max_minutes = 0.0;       // stop (with a checkpoint) after this wall time; 0 = no limit
  double lr = 3e-4;
  double min_lr_ratio = 0.1;      // cosine decays to lr * min_lr_ratio at max_steps
  int64_t warmup_steps = 100;
  double weight_decay = 0.1;      // never on norms, biases, or the router bias buffer
  bool decay_embeddings = false;  // whether embeddings (and a tied head) get weight decay
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  double grad_clip = 1.0;         // global norm; 0 = off
  double router_lr_mult = 1.0;    // learning-rate multiplier for router (gate) weights
  int64_t log_every = 10;
  int64_t eval_every = 200;       // validation loss (and best checkpoint) every N steps
  int64_t eval_max_batches = 0;   // cap on validation batches; 0 = the whole split
  int64_t ckpt_every = 200;       // latest checkpoint every N steps (and at the end)
  int64_t max_nonfinite = 5;      // consecutive non-finite steps before the run stops
  int64_t threads = 0;            // intra-op threads; 0 = OMP_NUM_THREADS if set, else the measured rule
                                  //   (core/threads.h: 1 thread for small steps, all for large)
  void validate() const;
  void bind(FieldTable& t);
};

// The microscope: routing metrics, collapse detector, remediation (docs/metrics.md).
struct ScopeConfig {
  bool enabled = true;            // routing metrics in every training run
  int64_t coact_every = 10;       // co-activation + saturation every N log intervals
  bool tensorboard = true;        // RUN_DIR/tb/events.out.tfevents.*
  // Collapse detector (rules in docs/metrics.md); W = window consecutive log intervals.
  int64_t window = 3;
  double entropy_floor = 0.5;     // normalised load entropy below this
  double max_share = 0.5;         // one expert holding more than this share of a layer's slots
  double neff_fraction = 0.25;    // N_eff below this fraction of E
  double maxvio_ceiling = 1.0;    // MaxVio_batch above this
  int64_t trend_window = 10;      // intervals in the entropy-trend (early warning) fit
  double trend_slope = -0.01;     // warn when the entropy falls faster than this per interval
  // Remediation ladder (opt-in).
  bool remediate = false;
  double max_bias_update_rate = 0.01;  // larger rates make the sign updates oscillate (MaxVio up)
  double max_jitter_eps = 0.1;
  double max_seq_aux_loss_alpha = 0.01;
  double max_z_loss_beta = 0.01;
  double saturated_router_entropy = 0.1;  // a router whose mean per-token entropy is below this is saturated
  int64_t cooldown = 3;           // intervals between escalations of one layer
  void validate() const;
  void bind(FieldTable& t);
};

// Expert compression (Mixture of Basis Experts, docs/compression.md): every routed expert's
// gate/up matrix W_i [p, d] ~ A_i [p, r] . f(sum_j alpha_ij B_j [r, d]), alpha_i on the simplex.
struct CompressConfig {
  std::string scope = "layer";       // "layer" (a bank per MoE layer and family) or "global" (one bank per family)
  std::string families = "gate,up";  // comma list of the matrix families to factorise: gate, up
  double rank_ratio = 0.75;          // r = round(rank_ratio * p), in (0, 1]
  int64_t rank = 0;                  // absolute r; > 0 overrides rank_ratio
  double basis_ratio = 0.25;         // m = round(basis_ratio * E) (E = experts sharing the bank), in (0, 1]
  int64_t n_bases = 0;               // absolute m; > 0 overrides basis_ratio
  std::string activation = "identity";  // f: "identity", "silu" or "tanh"
  std::string solver = "altmin";     // "gradient" (Adam) or "altmin" (alternating minimisation)
  std::string init = "svd";          // "svd" (grouped SVD), "pca" (energy-row PCA) or "random"
  bool normalise = true;             // z-score per layer and family (scalar mean/std; std folds into A)
  int64_t seed = 0;
  int64_t max_iters = 300;
  // Gradient solver: Adam on A, B and the alpha logits (full batch), cosine decay to lr * lr_min_ratio.
  double lr = 0.07;
  double lr_min_ratio = 0.01;
  // Alternating minimisation.
  double ridge = 1e-6;               // A refit: lambda * mean(diag(C C^T)) added to the Gram
  double bank_ridge = 1e-6;          // bank update: the same, relative, for the MOD system
  int64_t code_steps = 30;           // projected-gradient steps of the alpha coding problem
  double temperature = 1.0;          // coding softmax temperature (alpha = softmax(log alpha_hat / T))
  bool sparse = false;               // prune alpha below prune_eps and steer T toward target_support
  double prune_eps = 1e-3;           // also the threshold of the support metrics
  int64_t target_support = 0;        // wanted bases per expert (0 = no target)
  double temperature_step = 1.25;    // multiplicative T change per iteration when steering
  // Early stopping (0 disables a rule); the NaN/Inf stop restores the best state.
  double target_rel_error = 0.0;     // stop when every group's relative error is at most this
  int64_t plateau_iters = 30;        // stop after this many iterations without relative improvement
  double plateau_tol = 1e-5;         //   of more than plateau_tol
  double max_coherence = 0.0;        // stop when the largest off-diagonal bank coherence exceeds this
  bool stop_on_nonfinite = true;
  void validate() const;
  void bind(FieldTable& t);
};

// The whole resolved configuration of a run. Later layers (compress) add sections.
struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  ScopeConfig scope;
  CompressConfig compress;
  FieldTable fields();  // bound to this object's members
  void validate() const;
};

// Loads a TOML preset, then applies --set assignments, then validates.
Config load_config(const std::string& toml_path, const std::vector<std::string>& assignments = {});

}  // namespace moescope
