// decode_step.cpp: see decode_step.h.
#include "model/decode_step.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "model/attention.h"
#include "model/decode_kernels.h"
#include "ops/rope.h"

namespace moescope {
namespace {

std::vector<float> snap(const at::Tensor& t) {
  if (!t.defined()) return {};
  auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}
std::vector<float> snap(const torch::nn::Linear& l) { return l.is_empty() ? std::vector<float>{} : snap(l->weight); }
std::vector<float> snap(const RMSNorm& n) { return n.is_empty() ? std::vector<float>{} : snap(n->weight); }

// Indices of the k largest of s_n, largest first (ties: lower index first, as a stable sort).
void top_k(const std::vector<float>& s, int64_t k, std::vector<int64_t>* out) {
  out->resize(s.size());
  std::iota(out->begin(), out->end(), 0);
  std::partial_sort(out->begin(), out->begin() + k, out->end(),
                    [&](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  out->resize(static_cast<size_t>(k));
}

}  // namespace

std::string DecodeStep::unsupported(TransformerImpl& m) {
  if (m.compute_dtype == at::kDouble) return "compute dtype double";
  int64_t n = 0;
  for (auto& p : m.parameters()) {
    if (!p.device().is_cpu()) return "a model on " + p.device().str();
    n += p.numel();
  }
  if (n > kMaxParams)
    return "a model of " + std::to_string(n) + " parameters (the fp32 snapshot is for models up to " +
           std::to_string(kMaxParams) + ")";
  if (m.cfg().moe.capacity_factor > 0)
    return "moe.capacity_factor > 0 (a prompt prefilled as one batch may drop tokens past an expert's capacity; fed "
           "token by token it never would)";
  for (auto& mod : *m.layers) {
    auto* blk = mod->as<BlockImpl>();
    if (!blk || !blk->is_moe()) continue;
    for (auto& e : *blk->moe->experts)
      if (!e->as<SwiGLUMlpImpl>()) return "routed experts that are not plain SwiGLU modules";
  }
  return "";
}

DecodeStep::DecodeStep(TransformerImpl& m) : cfg_(m.cfg()) {
  const std::string why = unsupported(m);
  if (!why.empty()) throw std::invalid_argument("DecodeStep: unsupported model: " + why);
  torch::NoGradGuard ng;
  const auto& a = cfg_.attn;
  D_ = cfg_.d_model;
  V_ = cfg_.vocab_size;
  H_ = a.n_heads;
  max_len_ = cfg_.max_seq_len;
  const bool mla = a.type == AttnType::kMla;
  int64_t rope_width = 0;
  if (mla) {
    rope_width = a.qk_rope_head_dim;
    scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.qk_nope_head_dim + a.qk_rope_head_dim)));
    if (a.rope_scaling == RopeScaling::kYarn && a.yarn_softmax_mscale && a.yarn_mscale_all_dim > 0) {
      const double ms = yarn_get_mscale(a.yarn_factor, a.yarn_mscale_all_dim);
      scale_ = static_cast<float>(scale_ * ms * ms);
    }
  } else {
    G_ = a.n_kv_heads ? a.n_kv_heads : a.n_heads;
    hd_ = a.head_dim ? a.head_dim : D_ / a.n_heads;
    rope_width = hd_;
    scale_ = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd_)));
  }
  rope_width_ = rope_width;
  const RopeSpec spec = rope_spec(a);
  inv_freq_ = rope_inv_freq(rope_width, spec);
  attention_factor_ = spec.attention_factor;
  row_a_ = mla ? a.kv_lora_rank : G_ * hd_;
  row_b_ = mla ? a.qk_rope_head_dim : G_ * hd_;

  embed_VD_ = snap(m.embed_tokens->weight);
  tied_ = m.lm_head.is_empty();
  if (!tied_) head_VD_ = snap(m.lm_head->weight);
  norm_D_ = snap(m.norm->weight);
  for (auto& mod : *m.layers) {
    auto* blk = mod->as<BlockImpl>();
    Layer ly;
    ly.attn_norm_D = snap(blk->input_layernorm->weight);
    ly.ffn_norm_D = snap(blk->post_attention_layernorm->weight);
    if (mla) {
      auto& at = *blk->mla;
      ly.q_a_QD = snap(at.q_a_proj);
      ly.q_a_norm_Q = snap(at.q_a_layernorm);
      ly.q_b_XQ = snap(at.q_b_proj);
      ly.q_XD = snap(at.q_proj);
      ly.kv_a_YD = snap(at.kv_a_proj_with_mqa);
      ly.kv_a_norm_R = snap(at.kv_a_layernorm);
      ly.kv_b_ZR = snap(at.kv_b_proj);
      ly.o_DX = snap(at.o_proj);
    } else {
      auto& at = *blk->mha;
      ly.wq_XD = snap(at.q_proj);
      ly.wk_YD = snap(at.k_proj);
      ly.wv_YD = snap(at.v_proj);
      ly.bq = snap(at.q_proj->bias);
      ly.bk = snap(at.k_proj->bias);
      ly.bv = snap(at.v_proj->bias);
      ly.q_norm = snap(at.q_norm);
      ly.k_norm = snap(at.k_norm);
      ly.o_DX = snap(at.o_proj);
    }
    auto take = [](SwiGLUMlpImpl& s) {
      Mlp r;
      r.gate_FD = snap(s.gate_proj);
      r.up_FD = snap(s.up_proj);
      r.down_DF = snap(s.down_proj);
      r.F = s.gate_proj->weight.size(0);
      return r;
    };
    ly.moe = blk->is_moe();
    if (ly.moe) {
      auto& mo = *blk->moe;
      ly.router_ED = snap(mo.gate->weight);
      ly.bias_E = snap(mo.gate->bias);
      ly.bias_balance = mo.gate->knobs().bias_balance;
      for (auto& e : *mo.experts) ly.experts.push_back(take(*e->as<SwiGLUMlpImpl>()));
      if (!mo.shared_experts.is_empty()) ly.shared = take(*mo.shared_experts);
      ly.shared_gate_D = snap(mo.shared_expert_gate);
    } else {
      ly.dense = take(*blk->dense);
    }
    layers_.push_back(std::move(ly));
  }
  h_.resize(static_cast<size_t>(D_));
  x_.resize(h_.size());
  a_.resize(h_.size());
  logits_.resize(static_cast<size_t>(V_));
}

void DecodeStep::attention_mla(Layer& ly, const float* x, float* out) {
  const auto& a = cfg_.attn;
  const int64_t Q = a.q_lora_rank, R = a.kv_lora_rank, n = a.qk_nope_head_dim, p = a.qk_rope_head_dim, v = a.v_head_dim,
                pos = len_, L = len_ + 1;
  const float eps = static_cast<float>(cfg_.norm_eps);
  const float* cs = cos_.data() + pos * (p / 2);
  const float* sn = sin_.data() + pos * (p / 2);
  t0_.resize(static_cast<size_t>(H_ * (n + p)));
  float* q = t0_.data();
  if (Q > 0) {
    t1_.resize(static_cast<size_t>(Q));
    decode::matvec(ly.q_a_QD.data(), x, t1_.data(), Q, D_);
    decode::rms_norm(t1_.data(), ly.q_a_norm_Q.data(), t1_.data(), Q, eps);
    decode::matvec(ly.q_b_XQ.data(), t1_.data(), q, H_ * (n + p), Q);
  } else {
    decode::matvec(ly.q_XD.data(), x, q, H_ * (n + p), D_);
  }
  for (int64_t h = 0; h < H_; ++h) decode::rope(q + h * (n + p) + n, cs, sn, p);
  t1_.resize(static_cast<size_t>(R + p));
  decode::matvec(ly.kv_a_YD.data(), x, t1_.data(), R + p, D_);
  float* c_row = ly.cache_a.data() + pos * R;
  float* kpe_row = ly.cache_b.data() + pos * p;
  decode::rms_norm(t1_.data(), ly.kv_a_norm_R.data(), c_row, R, eps);
  std::copy(t1_.data() + R, t1_.data() + R + p, kpe_row);
  decode::rope(kpe_row, cs, sn, p);
  // per head: latent query, scores over the cache, latent output, value rows
  t2_.resize(static_cast<size_t>(R));
  t3_.resize(static_cast<size_t>(R));
  std::vector<float>& o = t1_;
  o.resize(static_cast<size_t>(H_ * v));
  for (int64_t h = 0; h < H_; ++h) {
    const float* w_uk = ly.kv_b_ZR.data() + h * (n + v) * R;  // [n, R]
    const float* w_uv = w_uk + n * R;                         // [v, R]
    const float* qh = q + h * (n + p);
    decode::matvec_t(w_uk, qh, t2_.data(), n, R);
    for (int64_t l = 0; l < L; ++l)
      scores_[l] =
          (decode::dot(t2_.data(), ly.cache_a.data() + l * R, R) + decode::dot(qh + n, ly.cache_b.data() + l * p, p)) *
          scale_;
    decode::softmax(scores_.data(), L);
    std::fill(t3_.begin(), t3_.end(), 0.0f);
    for (int64_t l = 0; l < L; ++l) decode::axpy(scores_[l], ly.cache_a.data() + l * R, t3_.data(), R);
    decode::matvec(w_uv, t3_.data(), o.data() + h * v, v, R);
  }
  decode::matvec(ly.o_DX.data(), o.data(), out, D_, H_ * v);
}

void DecodeStep::attention_mha(Layer& ly, const float* x, float* out) {
  const auto& a = cfg_.attn;
  const int64_t X = H_ * hd_, Y = G_ * hd_, pos = len_, L = len_ + 1;
  const float eps = static_cast<float>(cfg_.norm_eps);
  t0_.resize(static_cast<size_t>(X));
  float* q = t0_.data();
  float* k = ly.cache_a.data() + pos * Y;
  float* v = ly.cache_b.data() + pos * Y;
  decode::matvec(ly.wq_XD.data(), x, q, X, D_);
  decode::matvec(ly.wk_YD.data(), x, k, Y, D_);
  decode::matvec(ly.wv_YD.data(), x, v, Y, D_);
  if (!ly.bq.empty()) {
    decode::axpy(1.0f, ly.bq.data(), q, X);
    decode::axpy(1.0f, ly.bk.data(), k, Y);
    decode::axpy(1.0f, ly.bv.data(), v, Y);
  }
  if (a.qk_norm == QkNorm::kFull) {
    decode::rms_norm(q, ly.q_norm.data(), q, X, eps);
    decode::rms_norm(k, ly.k_norm.data(), k, Y, eps);
  } else if (a.qk_norm == QkNorm::kHead) {
    for (int64_t h = 0; h < H_; ++h) decode::rms_norm(q + h * hd_, ly.q_norm.data(), q + h * hd_, hd_, eps);
    for (int64_t g = 0; g < G_; ++g) decode::rms_norm(k + g * hd_, ly.k_norm.data(), k + g * hd_, hd_, eps);
  }
  if (a.clip_qkv > 0) {
    const float c = static_cast<float>(a.clip_qkv);
    for (int64_t i = 0; i < X; ++i) q[i] = std::min(c, std::max(-c, q[i]));
    for (int64_t i = 0; i < Y; ++i) k[i] = std::min(c, std::max(-c, k[i]));
    for (int64_t i = 0; i < Y; ++i) v[i] = std::min(c, std::max(-c, v[i]));
  }
  const float* cs = cos_.data() + pos * (hd_ / 2);
  const float* sn = sin_.data() + pos * (hd_ / 2);
  for (int64_t h = 0; h < H_; ++h) decode::rope(q + h * hd_, cs, sn, hd_);
  for (int64_t g = 0; g < G_; ++g) decode::rope(k + g * hd_, cs, sn, hd_);
  t1_.assign(static_cast<size_t>(X), 0.0f);
  const int64_t per = H_ / G_;
  for (int64_t h = 0; h < H_; ++h) {
    const int64_t g = h / per;
    for (int64_t l = 0; l < L; ++l)
      scores_[l] = decode::dot(q + h * hd_, ly.cache_a.data() + l * Y + g * hd_, hd_) * scale_;
    decode::softmax(scores_.data(), L);
    for (int64_t l = 0; l < L; ++l)
      decode::axpy(scores_[l], ly.cache_b.data() + l * Y + g * hd_, t1_.data() + h * hd_, hd_);
  }
  decode::matvec(ly.o_DX.data(), t1_.data(), out, D_, X);
}

void DecodeStep::mlp(const Mlp& m, const float* x, float* out, float scale, bool accumulate) {
  t2_.resize(static_cast<size_t>(m.F));
  t3_.resize(static_cast<size_t>(m.F));
  decode::matvec(m.gate_FD.data(), x, t2_.data(), m.F, D_);
  decode::matvec(m.up_FD.data(), x, t3_.data(), m.F, D_);
  decode::silu_mul(t2_.data(), t3_.data(), m.F);
  if (!accumulate) {
    decode::matvec(m.down_DF.data(), t2_.data(), out, D_, m.F);
    if (scale != 1.0f)
      for (int64_t i = 0; i < D_; ++i) out[i] *= scale;
    return;
  }
  t0_.resize(static_cast<size_t>(D_));
  decode::matvec(m.down_DF.data(), t2_.data(), t0_.data(), D_, m.F);
  decode::axpy(scale, t0_.data(), out, D_);
}

void DecodeStep::route(const Layer& ly, const float* x, std::vector<int64_t>* chosen, std::vector<float>* w) {
  const auto& mc = cfg_.moe;
  const int64_t E = mc.n_routed, K = mc.top_k;
  std::vector<float> logits(static_cast<size_t>(E)), scores(logits.size());
  decode::matvec(ly.router_ED.data(), x, logits.data(), E, D_);
  const bool sigmoid = mc.score_func == ScoreFunc::kSigmoid;
  const bool on_logits = mc.bias_on_logits && ly.bias_balance && !sigmoid;
  if (sigmoid) {
    for (int64_t e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  } else {
    scores = logits;
    decode::softmax(scores.data(), E);
  }
  std::vector<float> sel = on_logits ? logits : scores;
  if (ly.bias_balance)
    for (int64_t e = 0; e < E; ++e) sel[e] += ly.bias_E[e];
  if (mc.n_group > 1) {
    const int64_t G = mc.n_group, per = E / G;
    std::vector<float> group(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      std::vector<float> s(sel.begin() + g * per, sel.begin() + (g + 1) * per);
      std::sort(s.begin(), s.end(), std::greater<float>());
      group[g] = (sigmoid && per >= 2) ? s[0] + s[1] : s[0];
    }
    std::vector<int64_t> keep;
    top_k(group, mc.topk_group, &keep);
    std::vector<bool> ok(static_cast<size_t>(G), false);
    for (int64_t g : keep) ok[g] = true;
    for (int64_t e = 0; e < E; ++e)
      if (!ok[e / per]) sel[e] = -std::numeric_limits<float>::infinity();
  }
  top_k(sel, K, chosen);
  w->resize(static_cast<size_t>(K));
  if (mc.bias_in_weights && on_logits) {
    std::vector<float> b(logits);
    for (int64_t e = 0; e < E; ++e) b[e] += ly.bias_E[e];
    decode::softmax(b.data(), E);
    for (int64_t j = 0; j < K; ++j) (*w)[j] = b[(*chosen)[j]];
  } else {
    for (int64_t j = 0; j < K; ++j)
      (*w)[j] = scores[(*chosen)[j]] + (mc.bias_in_weights && ly.bias_balance ? ly.bias_E[(*chosen)[j]] : 0.0f);
  }
  if (mc.norm_topk_prob) {
    float s = 0;
    for (float v : *w) s += v;
    for (float& v : *w) v = v / (s + 1e-20f);
  }
  if (mc.routed_scaling_factor != 1.0)
    for (float& v : *w) v = static_cast<float>(v * mc.routed_scaling_factor);
}

void DecodeStep::ffn(Layer& ly, const float* x, float* out) {
  if (!ly.moe) {
    mlp(ly.dense, x, out, 1.0f, false);
    return;
  }
  std::vector<int64_t> chosen;
  std::vector<float> w;
  route(ly, x, &chosen, &w);
  std::fill(out, out + D_, 0.0f);
  for (size_t j = 0; j < chosen.size(); ++j) mlp(ly.experts[chosen[j]], x, out, w[j], true);
  if (ly.shared.F > 0) {
    float s = 1.0f;
    if (!ly.shared_gate_D.empty()) s = 1.0f / (1.0f + std::exp(-decode::dot(ly.shared_gate_D.data(), x, D_)));
    mlp(ly.shared, x, out, s, true);
  }
}

void DecodeStep::grow(int64_t rows) {
  if (rows <= rows_) return;
  rows = std::min(max_len_, std::max({rows, 2 * rows_, int64_t{256}}));
  for (auto& ly : layers_) {
    ly.cache_a.resize(static_cast<size_t>(rows * row_a_));
    ly.cache_b.resize(static_cast<size_t>(rows * row_b_));
  }
  // RoPE tables [rows, width/2]: angles in double (ops/rope.h's frequencies), times the attention factor.
  const int64_t half = rope_width_ / 2;
  cos_.resize(static_cast<size_t>(rows * half));
  sin_.resize(cos_.size());
  for (int64_t pos = rows_; pos < rows; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      const double ang = static_cast<double>(pos) * inv_freq_[i];
      cos_[pos * half + i] = static_cast<float>(std::cos(ang) * attention_factor_);
      sin_[pos * half + i] = static_cast<float>(std::sin(ang) * attention_factor_);
    }
  scores_.resize(static_cast<size_t>(rows));
  rows_ = rows;
}

const std::vector<float>& DecodeStep::step(int32_t token) {
  if (len_ >= max_len_)
    throw std::out_of_range("DecodeStep: the cache is full (" + std::to_string(max_len_) + " positions)");
  if (token < 0 || token >= V_)
    throw std::out_of_range("DecodeStep: token " + std::to_string(token) + " outside the vocabulary");
  grow(len_ + 1);
  const float eps = static_cast<float>(cfg_.norm_eps);
  std::copy(embed_VD_.data() + token * D_, embed_VD_.data() + (token + 1) * D_, h_.data());
  const bool mla = cfg_.attn.type == AttnType::kMla;
  for (auto& ly : layers_) {
    decode::rms_norm(h_.data(), ly.attn_norm_D.data(), x_.data(), D_, eps);
    if (mla) attention_mla(ly, x_.data(), a_.data());
    else attention_mha(ly, x_.data(), a_.data());
    decode::axpy(1.0f, a_.data(), h_.data(), D_);
    decode::rms_norm(h_.data(), ly.ffn_norm_D.data(), x_.data(), D_, eps);
    ffn(ly, x_.data(), a_.data());
    decode::axpy(1.0f, a_.data(), h_.data(), D_);
  }
  ++len_;
  decode::rms_norm(h_.data(), norm_D_.data(), x_.data(), D_, eps);
  decode::matvec(tied_ ? embed_VD_.data() : head_VD_.data(), x_.data(), logits_.data(), V_, D_);
  return logits_;
}

}  // namespace moescope
