// config.h: the config structs, each described once by a field list (field_spec.h):
//   X(type, name, default, range, help)
// The list gives the member and its default, the dotted key ("moe.top_k" = section.name, the
// sections listed in Config::visit_sections), the TOML / --set / config.json binding, the range
// check of validate(), the --help text and, for compress.*, the CLI flag. String choices are
// enums (config_enums.h), parsed once at load. Checks that involve two fields stay in validate().
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/config_enums.h"
#include "core/field_spec.h"
#include "core/fields.h"

namespace moescope {

#define MOESCOPE_ATTN_FIELDS(X)                                                                                     \
  X(AttnType, type, AttnType::kMla, range::any(),                                                                   \
    "mla (DeepSeek-V2/V3 latent attention) or mha (GQA if n_kv_heads < n_heads)")                                   \
  X(int64_t, n_heads, 4, range::closed(1, 1024), "attention heads")                                                 \
  X(int64_t, n_kv_heads, 0, range::closed(0, 1024, "0 = n_heads"), "mha: key/value heads")                          \
  X(int64_t, head_dim, 0, range::closed(0, 4096, "0 = d_model / n_heads"), "mha: width of one head")                \
  X(int64_t, q_lora_rank, 0, range::closed(0, 65536, "0 = full rank"), "mla: rank of the query projection")         \
  X(int64_t, kv_lora_rank, 32, range::closed(1, 65536), "mla: width of the cached, RMS-normalised KV latent")       \
  X(int64_t, qk_nope_head_dim, 32, range::closed(1, 4096), "mla: per-head query/key part without RoPE")             \
  X(int64_t, qk_rope_head_dim, 16, range::closed(1, 4096),                                                          \
    "mla: decoupled RoPE key width, shared by all heads (even)")                                                    \
  X(int64_t, v_head_dim, 32, range::closed(1, 4096), "mla: per-head value width")                                   \
  X(double, rope_theta, 10000.0, range::above(0), "RoPE base")                                                      \
  X(QkNorm, qk_norm, QkNorm::kNone, range::any(),                                                                   \
    "mha: RMSNorm of queries and keys: none, head (each head, Qwen3-MoE) or full (the whole projection, OLMoE)")    \
  X(bool, qkv_bias, false, range::any(), "mha: biases on q_proj, k_proj, v_proj (Qwen2-MoE)")                       \
  X(double, clip_qkv, 0.0, range::at_least(0, "0 = off"), "mha: clamp queries, keys and values to [-c, c] (OLMoE)") \
  X(RopeScaling, rope_scaling, RopeScaling::kNone, range::any(), "none or yarn (DeepSeek-V2/V3)")                   \
  X(double, yarn_factor, 1.0, range::at_least(1), "yarn: context extension factor")                                 \
  X(int64_t, yarn_original_max_position, 4096, range::closed(1, 1048576), "yarn: the pretraining context")          \
  X(double, yarn_beta_fast, 32.0, range::above(0), "yarn: rotations where extrapolation ends")                      \
  X(double, yarn_beta_slow, 1.0, range::above(0), "yarn: rotations where interpolation starts")                     \
  X(double, yarn_mscale, 0.0, range::at_least(0, "0 = unset"),                                                      \
    "yarn: mscale (cos/sin scale mscale(f, mscale) / mscale(f, mscale_all_dim))")                                   \
  X(double, yarn_mscale_all_dim, 0.0, range::at_least(0, "0 = unset"), "yarn: mscale_all_dim")                      \
  X(bool, yarn_softmax_mscale, false, range::any(),                                                                 \
    "mla: multiply the softmax scale by mscale(f, mscale_all_dim)^2 (DeepSeek-V3)")

struct AttentionConfig {
  MOESCOPE_FIELDS(MOESCOPE_ATTN_FIELDS)
};

#define MOESCOPE_MOE_FIELDS(X)                                                                                         \
  X(int64_t, n_routed, 8, range::closed(1, 4096), "routed experts E")                                                  \
  X(int64_t, n_shared, 1, range::closed(0, 256), "shared experts (every token)")                                       \
  X(int64_t, expert_hidden, 512, range::closed(1, 1048576), "hidden size F of one routed expert")                      \
  X(int64_t, shared_hidden, 0, range::closed(0, 1048576, "0 = n_shared * expert_hidden"),                              \
    "hidden size of the fused shared expert")                                                                          \
  X(int64_t, top_k, 2, range::closed(1, 4096), "routed experts per token")                                             \
  X(int64_t, first_k_dense, 0, range::any(), "the first layers use a dense FFN (as DeepSeek-V3)")                      \
  X(ScoreFunc, score_func, ScoreFunc::kSoftmax, range::any(), "router scores, computed in fp32")                       \
  X(bool, norm_topk_prob, true, range::any(), "renormalise the selected weights to sum to 1")                          \
  X(double, routed_scaling_factor, 1.0, range::above(0), "scale of the routed experts' weights")                       \
  X(int64_t, n_group, 1, range::closed(1, 4096), "group-limited routing: experts in n_group groups")                   \
  X(int64_t, topk_group, 1, range::any(), "group-limited routing: tokens may use only topk_group groups")              \
  X(Jitter, jitter, Jitter::kNone, range::any(),                                                                       \
    "input: x *= U(1-eps,1+eps); logits: logits += N(0,eps^2); training only")                                         \
  X(double, jitter_eps, 0.0, range::at_least(0), "jitter strength eps")                                                \
  X(bool, bias_balance, true, range::any(),                                                                            \
    "auxiliary-loss-free balancing (DeepSeek-V3): selection-only bias per expert")                                     \
  X(double, bias_update_rate, 0.001, range::at_least(0),                                                               \
    "u in b_i += u * sign(mean_load - load_i), per optimizer step")                                                    \
  X(bool, bias_zero_center, false, range::any(), "subtract the mean of each bias update")                              \
  X(bool, bias_in_weights, false, range::any(),                                                                        \
    "add the expert bias to the scores that weight the experts' outputs too, not only to the selection")               \
  X(bool, bias_on_logits, false, range::any(),                                                                         \
    "softmax router: add the expert bias to the logits before the softmax (a factor exp(b_i) on the scores, no bound " \
    "on what it must outweigh), not to the scores; with bias_in_weights the weights are softmax(logits + bias) "       \
    "(both: the seed's PyTorch model)")                                                                                \
  X(double, aux_loss_alpha, 0.0, range::at_least(0),                                                                   \
    "Switch/GShard balance loss: alpha * E * sum_i f_i P_i (0 = off)")                                                 \
  X(double, seq_aux_loss_alpha, 0.0, range::at_least(0), "DeepSeek-V3 sequence-wise balance loss (0 = off)")           \
  X(double, z_loss_beta, 0.0, range::at_least(0), "router z-loss: beta * mean(logsumexp(logits)^2) (0 = off)")         \
  X(double, capacity_factor, 0.0, range::at_least(0, "0 = dropless"),                                                  \
    "capacity = ceil(factor * T * k / E) slots per expert")                                                            \
  X(DropPolicy, drop_policy, DropPolicy::kScore, range::any(),                                                         \
    "score: lowest gate weight dropped first; position: later tokens first")                                           \
  X(bool, shared_expert_gate, false, range::any(),                                                                     \
    "scale the shared expert by sigmoid(x . w) (Qwen2-MoE shared_expert_gate)")                                        \
  X(int64_t, sparse_step, 1, range::closed(1, 1024),                                                                   \
    "only layers with (layer + 1) % sparse_step == 0 are MoE (Qwen decoder_sparse_step)")                              \
  X(std::string, dense_layers, "", range::any(), "comma list of layer indices with a dense FFN (Qwen mlp_only_layers)")

struct MoEConfig {
  MOESCOPE_FIELDS(MOESCOPE_MOE_FIELDS)
};

#define MOESCOPE_MODEL_FIELDS(X)                                                                                      \
  X(int64_t, vocab_size, 256, range::closed(1, 16777216), "vocabulary (replaced by the tokenizer's when training)")   \
  X(int64_t, d_model, 256, range::closed(1, 65536), "model width D")                                                  \
  X(int64_t, n_layers, 4, range::closed(1, 1024), "transformer layers")                                               \
  X(int64_t, max_seq_len, 256, range::closed(1, 1048576), "longest sequence (RoPE tables, KV cache)")                 \
  X(FfnKind, ffn, FfnKind::kMoe, range::any(), "feed-forward kind of the layers")                                     \
  X(int64_t, dense_hidden, 1024, range::closed(0, 1048576, "used by dense layers only"),                              \
    "hidden size of dense SwiGLU layers")                                                                             \
  X(bool, tie_embeddings, false, range::any(), "share the input embedding and the output head")                       \
  X(double, norm_eps, 1e-6, range::above(0), "RMSNorm epsilon")                                                       \
  X(double, init_std, 0.02, range::above(0), "weight init standard deviation")                                        \
  X(WeightInit, weight_init, WeightInit::kScaledNormal, range::any(),                                                 \
    "scaled_normal: N(0, init_std^2), residual outputs / sqrt(2 n_layers); torch_default: PyTorch's module defaults " \
    "as a plain PyTorch model gets them (Linear and router U(+-1/sqrt(fan_in)), Embedding N(0, 1); init_std unused)")

struct ModelConfig {
  MOESCOPE_FIELDS(MOESCOPE_MODEL_FIELDS)
  AttentionConfig attn;  // section "attn"
  MoEConfig moe;         // section "moe"

  // MoE unless ffn = dense, layer < moe.first_k_dense, (layer + 1) % moe.sparse_step != 0 or the
  // layer is listed in moe.dense_layers.
  bool is_moe_layer(int64_t layer) const;
  int64_t n_moe_layers() const;
  // Throws std::invalid_argument naming the field and the bad value.
  void validate() const;
};

#define MOESCOPE_DATA_FIELDS(X)                                                                                    \
  X(std::string, path, "", range::any(), "UTF-8 text file; empty = the default corpus (Brown, prepared by setup)") \
  X(std::string, tokenizer, "char", range::any(),                                                                  \
    "char, byte, bpe (sentencepiece, trained on the corpus) or hf:PATH (a Hugging Face tokenizer.json, or its "    \
    "directory)")                                                                                                  \
  X(int64_t, bpe_vocab_size, 2048, range::closed(64, 1000000), "vocabulary of a bpe tokenizer")                    \
  X(double, val_fraction, 0.1, range::open(0, 1), "the last fraction of the tokens is the validation split")       \
  X(std::string, cache_dir, "", range::any(),                                                                      \
    "tokenised-corpus cache; empty = $XDG_CACHE_HOME/moescope or ~/.cache/moescope")

struct DataConfig {
  MOESCOPE_FIELDS(MOESCOPE_DATA_FIELDS)
  void validate() const;
};

#define MOESCOPE_TRAIN_FIELDS(X)                                                                                     \
  X(DeviceKind, device, DeviceKind::kAuto, range::any(), "auto = cuda when available")                               \
  X(DType, dtype, DType::kAuto, range::any(),                                                                        \
    "compute dtype (masters, router, losses stay fp32); auto = bf16 where native (CUDA cc >= 8.0, "                  \
    "avx512_bf16/amx_bf16), else fp32, resolved once at the start of a run and saved resolved in config.json")       \
  X(int64_t, seed, 1234, range::any(), "seed of the init, data order and jitter")                                    \
  X(int64_t, batch_size, 8, range::closed(1, 1048576), "sequences per micro-batch")                                  \
  X(int64_t, seq_len, 256, range::closed(1, 1048576), "tokens per sequence")                                         \
  X(int64_t, grad_accum, 1, range::closed(1, 1048576), "micro-batches per optimizer step")                           \
  X(int64_t, max_steps, 1000, range::closed(1, 1000000000000), "optimizer steps")                                    \
  X(double, max_minutes, 0.0, range::at_least(0, "0 = no limit"), "stop (with a checkpoint) after this wall time")   \
  X(double, lr, 3e-4, range::above(0), "peak learning rate")                                                         \
  X(double, min_lr_ratio, 0.1, range::closed(0, 1), "cosine decays to lr * min_lr_ratio at max_steps")               \
  X(int64_t, warmup_steps, 100, range::at_least(0), "linear warm-up steps")                                          \
  X(double, weight_decay, 0.1, range::at_least(0), "AdamW decay; never on norms, biases or the router bias buffer")  \
  X(bool, decay_embeddings, false, range::any(), "whether embeddings (and a tied head) get weight decay")            \
  X(double, beta1, 0.9, range::right_open(0, 1), "AdamW beta1")                                                      \
  X(double, beta2, 0.95, range::right_open(0, 1), "AdamW beta2")                                                     \
  X(double, adam_eps, 1e-8, range::above(0), "AdamW epsilon")                                                        \
  X(double, grad_clip, 1.0, range::at_least(0, "0 = off"), "global gradient norm clip")                              \
  X(double, router_lr_mult, 1.0, range::above(0), "learning-rate multiplier for router (gate) weights")              \
  X(int64_t, log_every, 10, range::above(0), "log interval in steps")                                                \
  X(int64_t, eval_every, 200, range::above(0), "validation loss (and best checkpoint) every N steps")                \
  X(int64_t, eval_max_batches, 0, range::at_least(0, "0 = all"), "cap on validation batches")                        \
  X(int64_t, ckpt_every, 200, range::above(0), "latest checkpoint every N steps (and at the end)")                   \
  X(int64_t, max_nonfinite, 5, range::above(0), "consecutive non-finite steps before the run stops")                 \
  X(int64_t, threads, 0, range::closed(0, 1024, "0 = automatic"),                                                    \
    "intra-op threads; 0 = OMP_NUM_THREADS if set, else the measured rule (core/threads.h)")                         \
  X(int64_t, expert_parallel, 1, range::closed(1, 65536, "1 = off"),                                                 \
    "expert-parallel degree P of a multi-process run: the routed experts' compute split over groups of P ranks "     \
    "(ranks [k P, (k+1) P)), data parallel across the groups; must divide WORLD_SIZE and moe.n_routed "              \
    "(docs/distributed.md)")                                                                                         \
  X(bool, overlap_grad_sync, true, range::any(),                                                                     \
    "multi-process: start the gradient all-reduce in buckets during the last micro-batch's backward (false: all of " \
    "it after backward; docs/distributed.md)")

struct TrainConfig {
  MOESCOPE_FIELDS(MOESCOPE_TRAIN_FIELDS)
};

// The microscope: routing metrics, collapse detector, remediation (docs/metrics.md).
#define MOESCOPE_SCOPE_FIELDS(X)                                                                                       \
  X(bool, enabled, true, range::any(), "routing metrics in every training run")                                        \
  X(int64_t, coact_every, 10, range::above(0), "co-activation + saturation every N log intervals")                     \
  X(bool, tensorboard, true, range::any(), "write RUN_DIR/tb/events.out.tfevents.*")                                   \
  X(int64_t, window, 3, range::above(0), "collapse detector: W consecutive log intervals")                             \
  X(int64_t, exit_window, 3, range::above(0),                                                                          \
    "collapse detector: a collapsed (dropping) layer is healthy again after this many intervals without a critical "   \
    "collapse (drop) rule")                                                                                            \
  X(double, entropy_floor, 0.0, range::closed(0, 1),                                                                   \
    "an absolute floor on the normalised load entropy (critical); 0 = off, the per-E floor is neff_fraction")          \
  X(double, neff_fraction, 0.5, range::closed(0, 1), "N_eff below this fraction of E (critical: concentrated)")        \
  X(double, max_share, 0.5, range::left_open(0, 1),                                                                    \
    "one expert chosen by more than this share of a layer's tokens (critical: dominated) at top-1; with top-K of E "   \
    "the bar is max_share + (1 - max_share) * (K - 1) / (E - 1)")                                                      \
  X(double, dominance, 4.0, range::above(0),                                                                           \
    "one expert chosen by more than this multiple of the uniform token share K/E (warning; imbalanced after "          \
    "scope.window intervals)")                                                                                         \
  X(double, starved_ratio, 0.2, range::closed(0, 1),                                                                   \
    "an expert with a load under this fraction of the uniform share 1/E is starved")                                   \
  X(int64_t, starved_experts, 2, range::above(0),                                                                      \
    "starved experts: warning from 1, critical from max(this many, starved_fraction * E)")                             \
  X(double, starved_fraction, 0.25, range::closed(0, 1),                                                               \
    "starved experts: critical from this fraction of a layer's experts (and at least scope.starved_experts)")          \
  X(double, min_expert_slots, 10.0, range::at_least(0),                                                                \
    "load rules judge an interval only with at least this many slots per expert on average")                           \
  X(double, drop_warning, 0.05, range::closed(0, 1), "capacity drop rate (of assignments) above this: warning")        \
  X(double, drop_critical, 0.2, range::closed(0, 1),                                                                   \
    "capacity drop rate (of assignments) above this: critical (status dropping after scope.window intervals)")         \
  X(double, maxvio_ceiling, 1.0, range::above(0), "MaxVio_batch above this")                                           \
  X(int64_t, trend_window, 10, range::at_least(2), "intervals in the entropy-trend (early warning) fit")               \
  X(double, trend_slope, -0.01, range::any(), "warn when the entropy falls faster than this per interval")             \
  X(bool, remediate, false, range::any(), "let the remediation ladder act (may be turned on at --resume)")             \
  X(double, max_bias_update_rate, 0.01, range::above(0), "ladder bound: larger rates make the sign updates oscillate") \
  X(double, max_jitter_eps, 0.1, range::open(0, 1), "ladder bound of the input jitter")                                \
  X(double, max_seq_aux_loss_alpha, 0.01, range::above(0), "ladder bound of the sequence-wise balance loss")           \
  X(double, max_z_loss_beta, 0.01, range::above(0), "ladder bound of the router z-loss")                               \
  X(double, saturated_router_entropy, 0.1, range::closed(0, 1),                                                        \
    "a router whose mean per-token entropy is below this is saturated")                                                \
  X(int64_t, cooldown, 3, range::at_least(1), "intervals between escalations of one layer")

struct ScopeConfig {
  MOESCOPE_FIELDS(MOESCOPE_SCOPE_FIELDS)
};

// Expert compression (Mixture of Basis Experts, docs/compression.md): every routed expert's
// gate/up matrix W_i [p, d] ~ A_i [p, r] . f(sum_j alpha_ij B_j [r, d]), alpha_i on the simplex.
#define MOESCOPE_COMPRESS_FIELDS(X)                                                                                   \
  X(BankScope, scope, BankScope::kLayer, range::any(),                                                                \
    "layer: a bank per MoE layer and family; global: one bank per family")                                            \
  X(std::string, families, "gate,up", range::any(), "comma list of the matrix families to factorise: gate, up")       \
  X(double, rank_ratio, 0.75, range::left_open(0, 1), "r = round(rank_ratio * expert hidden)")                        \
  X(int64_t, rank, 0, range::at_least(0, "0 = use rank_ratio"), "absolute rank r; > 0 overrides rank_ratio")          \
  X(double, basis_ratio, 0.25, range::left_open(0, 1), "m = round(basis_ratio * experts sharing the bank)")           \
  X(int64_t, n_bases, 0, range::at_least(0, "0 = use basis_ratio"),                                                   \
    "absolute number of bases m; > 0 overrides basis_ratio")                                                          \
  X(Activation, activation, Activation::kIdentity, range::any(), "the basis nonlinearity f")                          \
  X(Solver, solver, Solver::kAltmin, range::any(), "gradient (Adam) or altmin (alternating minimisation)")            \
  X(InitMethod, init, InitMethod::kSvd, range::any(), "svd (grouped SVD), pca (energy-row PCA) or random")            \
  X(bool, normalise, true, range::any(), "z-score per layer and family (scalar mean/std; std folds into A)")          \
  X(int64_t, seed, 0, range::any(), "solver seed")                                                                    \
  X(int64_t, max_iters, 300, range::above(0), "solver iterations")                                                    \
  X(double, lr, 0.07, range::above(0), "gradient solver: Adam lr (full batch)")                                       \
  X(double, lr_min_ratio, 0.01, range::closed(0, 1), "gradient solver: cosine decay to lr * lr_min_ratio")            \
  X(double, ridge, 1e-6, range::at_least(0), "altmin: A refit adds lambda * mean(diag(C C^T)) to the Gram")           \
  X(double, bank_ridge, 1e-6, range::at_least(0), "altmin: the same, relative, for the bank (MOD) system")            \
  X(int64_t, code_steps, 30, range::above(0), "altmin: projected-gradient steps of the alpha coding problem")         \
  X(double, temperature, 1.0, range::above(0), "coding softmax temperature (alpha = softmax(log alpha_hat / T))")     \
  X(bool, sparse, false, range::any(), "prune alpha below prune_eps and steer T toward target_support")               \
  X(double, prune_eps, 1e-3, range::right_open(0, 1), "alpha pruning threshold (also of the support metrics)")        \
  X(int64_t, target_support, 0, range::at_least(0, "0 = no target"), "wanted bases per expert")                       \
  X(double, temperature_step, 1.25, range::above(1), "multiplicative T change per iteration when steering")           \
  X(double, weight_floor, 0.1, range::closed(0, 1),                                                                   \
    "with --weight-by: an expert's objective weight is max(E * its routing share, weight_floor); 1 = the uniform "    \
    "share")                                                                                                          \
  X(double, target_rel_error, 0.0, range::at_least(0, "0 = off"),                                                     \
    "stop when every group's relative error is at most this")                                                         \
  X(int64_t, plateau_iters, 30, range::at_least(0, "0 = off"), "stop after this many iterations without improvement") \
  X(double, plateau_tol, 1e-5, range::at_least(0), "relative improvement that counts for plateau_iters")              \
  X(double, max_coherence, 0.0, range::closed(0, 1, "0 = off"),                                                       \
    "stop when the largest off-diagonal bank coherence exceeds this")                                                 \
  X(bool, stop_on_nonfinite, true, range::any(), "stop on NaN/Inf and restore the best state")

struct CompressConfig {
  MOESCOPE_FIELDS(MOESCOPE_COMPRESS_FIELDS)
  void validate() const;  // ranges and the families list
};

// The whole resolved configuration of a run. Its sections are the top-level keys of the
// TOML presets and of config.json.
struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  ScopeConfig scope;
  CompressConfig compress;

  template <class V>
  void visit_sections(V&& v) {
    v("model", model);
    v("attn", model.attn);
    v("moe", model.moe);
    v("data", data);
    v("train", train);
    v("scope", scope);
    v("compress", compress);
  }
  FieldTable fields();  // bound to this object's members
  void validate() const;
};

// The keys of every section with their defaults, ranges or choices and help (for --help).
std::string config_help();

// Loads a TOML preset, then applies --set assignments, then validates.
Config load_config(const std::string& toml_path, const std::vector<std::string>& assignments = {});

}  // namespace moescope
