// decode_step.h: one token's logits without the dispatcher: a fp32 snapshot of a Transformer's
// weights in plain arrays, its own KV cache, and the forward of a single position as plain C++
// loops (model/decode_kernels.h). A decode step of a small model is matrix-vector work over a
// few hundred tiny operands; through LibTorch each costs a dispatch far larger than its
// arithmetic, so this path decodes the demo model several times faster than model->forward.
//
// Legend: D width, V vocabulary, H heads, L cached positions (0..pos), Lmax = model.max_seq_len;
//   MLA: Q q_lora_rank, R kv_lora_rank, n qk_nope_head_dim, p qk_rope_head_dim, v v_head_dim;
//   MHA: G kv heads, hd head width; MoE: E routed experts, K top_k, F expert hidden.
// The step, for token t at position pos (what TransformerImpl::forward computes for S = 1 with
// a KVCache, in fp32, in inference mode):
//   h_D = embed[t];  per layer: h += attn(rmsnorm(h)); h += ffn(rmsnorm(h));  logits_V = head(rmsnorm(h))
//   MLA, absorbed as model/mla.cpp does with a cache: q = q_b(rmsnorm(q_a x)) | q_proj x; RoPE on
//     q_pe; [c | k_pe] = kv_a x, c = rmsnorm(c), RoPE(k_pe) -> cache row pos; per head
//     q_lat_R = W_uk^T q_nope, score_l = (q_lat . c_l + q_pe . k_pe_l) * scale, softmax over
//     l <= pos, o_lat = sum_l a_l c_l, o_v = W_uv o_lat; o_proj over all heads.
//   MHA/GQA (attention.h): q/k/v projections (+ qkv_bias), qk_norm full|head, clip_qkv, RoPE,
//     k/v -> cache row pos, head h reads kv head h / (H / G), scale 1/sqrt(hd).
//   RoPE and YaRN from ops/rope.h's rope_inv_freq and the config's rope_spec (cos/sin tables of
//     Lmax rows built once, in double, multiplied by the attention factor).
//   Router as model/router.cpp in inference: logits = W x; softmax | sigmoid scores; selection
//     on scores (or logits with bias_on_logits) + e_score_correction_bias when bias_balance is on
//     (the live knob, read at snapshot time); n_group / topk_group group limits (group score: max,
//     or sum of the top 2 for sigmoid); weights from the unbiased scores (bias_in_weights: + bias,
//     or softmax(logits + bias) with bias_on_logits), norm_topk_prob, routed_scaling_factor.
//   Experts: sum_k w_k SwiGLU_k(x) + shared(x) [* sigmoid(shared_expert_gate . x)]; dense layers
//     SwiGLU; head: lm_head or the tied embedding.
// Not covered (unsupported() names them; `generate` then decodes with model->forward):
//   a model off the CPU, compute dtype double, a layer whose experts are not plain SwiGLUMlp
//   modules, models over kMaxParams parameters, and moe.capacity_factor > 0: one token never
//   overflows a capacity, but `generate`'s torch path prefills the prompt as one batch, which
//   can drop prompt tokens, and the two paths must give the same text. Training-only router terms (jitter, aux losses)
//   do not apply in inference.
// Weights are copied when the DecodeStep is built: later changes to the model are not seen.
// The cache and the RoPE tables grow with the positions used (doubling, up to Lmax).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/transformer.h"

namespace moescope {

class DecodeStep {
 public:
  // Why `model` cannot decode on this path ("" when it can).
  static std::string unsupported(TransformerImpl& model);
  // Larger models are bound by memory bandwidth, not by dispatch, and their snapshot would
  // double the memory they hold: they decode through model->forward.
  static constexpr int64_t kMaxParams = int64_t{1} << 28;  // 1 GiB of fp32
  // Snapshots the weights; throws std::invalid_argument with unsupported()'s reason.
  explicit DecodeStep(TransformerImpl& model);

  // Appends `token` at position length() and returns the logits [V] of the next token (valid
  // until the next call). Throws std::out_of_range when the cache is full (length() == max_length()).
  const std::vector<float>& step(int32_t token);
  int64_t length() const { return len_; }
  int64_t max_length() const { return max_len_; }
  void reset() { len_ = 0; }

 private:
  struct Mlp {
    std::vector<float> gate_FD, up_FD, down_DF;
    int64_t F = 0;
  };
  struct Layer {
    std::vector<float> attn_norm_D, ffn_norm_D;
    // MLA
    std::vector<float> q_a_QD, q_a_norm_Q, q_b_XQ, q_XD;  // X = H (n + p); q_XD when Q = 0
    std::vector<float> kv_a_YD, kv_a_norm_R;              // Y = R + p
    std::vector<float> kv_b_ZR;                           // Z = H (n + v): per head n W_uk rows, v W_uv rows
    // MHA
    std::vector<float> wq_XD, wk_YD, wv_YD, bq, bk, bv, q_norm, k_norm;  // X = H hd, Y = G hd
    std::vector<float> o_DX;
    // cache: MLA c_kv [Lmax, R] and k_pe [Lmax, p]; MHA k and v [Lmax, G hd]
    std::vector<float> cache_a, cache_b;
    // FFN
    bool moe = false;
    Mlp dense, shared;
    std::vector<Mlp> experts;
    std::vector<float> router_ED, bias_E, shared_gate_D;
    bool bias_balance = true;  // the router's live knob at snapshot time
  };

  void attention_mla(Layer& ly, const float* x, float* out);
  void attention_mha(Layer& ly, const float* x, float* out);
  void ffn(Layer& ly, const float* x, float* out);
  void mlp(const Mlp& m, const float* x, float* out, float scale, bool accumulate);
  void grow(int64_t rows);  // cache and RoPE rows for positions [0, rows)
  void route(const Layer& ly, const float* x, std::vector<int64_t>* experts, std::vector<float>* weights);

  ModelConfig cfg_;
  int64_t D_, V_, H_, max_len_, len_ = 0;
  int64_t G_ = 0, hd_ = 0;  // MHA
  float scale_ = 1;         // attention score scale
  std::vector<float> embed_VD_, head_VD_, norm_D_;
  bool tied_ = false;
  std::vector<Layer> layers_;
  int64_t rope_width_ = 0, row_a_ = 0, row_b_ = 0, rows_ = 0;  // rows_: positions allocated
  std::vector<double> inv_freq_;
  double attention_factor_ = 1;
  std::vector<float> cos_, sin_;  // [rows_, rope width / 2]
  // scratch
  std::vector<float> h_, x_, a_, t0_, t1_, t2_, t3_, scores_, logits_;
};

}  // namespace moescope
