// hf_reference.cpp: see hf_reference.h. Plain loops, doubles, one token row at a time.
#include "hf_reference.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace moescope::hfref {
namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // rows

const Tensor& get(const Weights& w, const std::string& n) {
  auto it = w.find(n);
  if (it == w.end()) throw std::runtime_error("reference: no weight " + n);
  return it->second;
}
// y = W x for W [out, in].
Vec matvec(const Tensor& W, const Vec& x) {
  const int64_t out = W.shape[0], in = W.shape[1];
  if (static_cast<int64_t>(x.size()) != in) throw std::runtime_error("reference: matvec size");
  Vec y(out, 0.0);
  for (int64_t o = 0; o < out; ++o) {
    double s = 0;
    for (int64_t i = 0; i < in; ++i) s += W.v[o * in + i] * x[i];
    y[o] = s;
  }
  return y;
}
Vec lin(const Weights& w, const std::string& n, const Vec& x) { return matvec(get(w, n + ".weight"), x); }
Vec rmsnorm(const Vec& x, const Tensor& g, double eps) {
  double ms = 0;
  for (double a : x) ms += a * a;
  ms /= static_cast<double>(x.size());
  const double r = 1.0 / std::sqrt(ms + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * g.v[i];
  return y;
}
double silu(double a) { return a / (1.0 + std::exp(-a)); }
double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }
Vec softmax(const Vec& x) {
  const double m = *std::max_element(x.begin(), x.end());
  Vec y(x.size());
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (y[i] = std::exp(x[i] - m));
  for (double& a : y) a /= s;
  return y;
}
Vec swiglu(const Weights& w, const std::string& p, const Vec& x, const char* g = "gate_proj", const char* u = "up_proj",
           const char* d = "down_proj") {
  Vec a = lin(w, p + g, x), b = lin(w, p + u, x);
  for (size_t i = 0; i < a.size(); ++i) a[i] = silu(a[i]) * b[i];
  return lin(w, p + d, a);
}
void add(Vec& a, const Vec& b, double s = 1.0) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += s * b[i];
}

// Indices of the k largest values (descending); records the gap to the next candidate.
std::vector<int64_t> topk(const Vec& x, int64_t k, double* margin) {
  std::vector<int64_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return x[a] > x[b]; });
  if (k < static_cast<int64_t>(x.size())) *margin = std::min(*margin, x[idx[k - 1]] - x[idx[k]]);
  idx.resize(k);
  return idx;
}

double jnum(const nlohmann::json& c, const char* k, double def) {
  return c.contains(k) && !c[k].is_null() ? c[k].get<double>() : def;
}
int64_t jint(const nlohmann::json& c, const char* k, int64_t def) {
  return c.contains(k) && !c[k].is_null() ? c[k].get<int64_t>() : def;
}

// Inverse frequencies of RoPE over `dim` (default or yarn), and the cos/sin multiplier.
Vec inv_freq(const nlohmann::json& c, int64_t dim, double* attn_factor) {
  const double base = jnum(c, "rope_theta", 10000.0);
  Vec f(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) f[i] = 1.0 / std::pow(base, static_cast<double>(2 * i) / dim);
  *attn_factor = 1.0;
  if (!c.contains("rope_scaling") || c["rope_scaling"].is_null()) return f;
  const auto& rs = c["rope_scaling"];
  const double factor = rs["factor"].get<double>();
  const double orig = rs["original_max_position_embeddings"].get<double>();
  const double mscale = jnum(rs, "mscale", 0), mscale_all = jnum(rs, "mscale_all_dim", 0);
  auto get_mscale = [](double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * std::log(s) + 1.0; };
  *attn_factor = (mscale != 0 && mscale_all != 0) ? get_mscale(factor, mscale) / get_mscale(factor, mscale_all)
                                                  : get_mscale(factor, 1.0);
  const double bf = jnum(rs, "beta_fast", 32), bs = jnum(rs, "beta_slow", 1);
  auto corr = [&](double rot) { return dim * std::log(orig / (rot * 2 * M_PI)) / (2 * std::log(base)); };
  double lo = std::max(0.0, std::floor(corr(bf))), hi = std::min<double>(dim - 1, std::ceil(corr(bs)));
  if (lo == hi) hi += 0.001;
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    const double ext = 1.0 - ramp;
    f[i] = (f[i] / factor) * (1 - ext) + f[i] * ext;
  }
  return f;
}

// Rotate-half RoPE (Llama layout): pairs (i, i + d/2).
void rope_half(double* x, int64_t d, const Vec& f, int64_t pos, double af) {
  for (int64_t i = 0; i < d / 2; ++i) {
    const double c = std::cos(pos * f[i]) * af, s = std::sin(pos * f[i]) * af;
    const double a = x[i], b = x[i + d / 2];
    x[i] = a * c - b * s;
    x[i + d / 2] = b * c + a * s;
  }
}
// Interleaved RoPE (DeepSeek): pairs (2i, 2i + 1), as complex multiplication.
void rope_pairs(double* x, int64_t d, const Vec& f, int64_t pos, double af) {
  for (int64_t i = 0; i < d / 2; ++i) {
    const double c = std::cos(pos * f[i]) * af, s = std::sin(pos * f[i]) * af;
    const double a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

// Causal attention over per-position q [T][H*dq], k [T][H*dq], v [T][H*dv] -> [T][H*dv].
Mat attend(const Mat& q, const Mat& k, const Mat& v, int64_t H, int64_t dq, int64_t dv, double scale) {
  const int64_t T = static_cast<int64_t>(q.size());
  Mat o(T, Vec(H * dv, 0.0));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < T; ++t) {
      Vec s(t + 1);
      for (int64_t u = 0; u <= t; ++u) {
        double d = 0;
        for (int64_t i = 0; i < dq; ++i) d += q[t][h * dq + i] * k[u][h * dq + i];
        s[u] = d * scale;
      }
      const Vec p = softmax(s);
      for (int64_t u = 0; u <= t; ++u)
        for (int64_t i = 0; i < dv; ++i) o[t][h * dv + i] += p[u] * v[u][h * dv + i];
    }
  return o;
}

Mat gqa_attention(const nlohmann::json& c, const std::string& type, const Weights& w, const std::string& p, const Mat& x) {
  const int64_t D = c["hidden_size"], H = c["num_attention_heads"];
  const int64_t G = jint(c, "num_key_value_heads", H), hd = jint(c, "head_dim", D / H);
  const double eps = jnum(c, "rms_norm_eps", 1e-6);
  const bool bias = type == "qwen2_moe";
  const double clip = type == "olmoe" ? jnum(c, "clip_qkv", 0) : 0;
  double af;
  const Vec f = inv_freq(c, hd, &af);
  const int64_t T = static_cast<int64_t>(x.size());
  Mat q(T), k(T), v(T);
  for (int64_t t = 0; t < T; ++t) {
    q[t] = lin(w, p + "q_proj", x[t]);
    k[t] = lin(w, p + "k_proj", x[t]);
    v[t] = lin(w, p + "v_proj", x[t]);
    if (bias) {
      add(q[t], get(w, p + "q_proj.bias").v);
      add(k[t], get(w, p + "k_proj.bias").v);
      add(v[t], get(w, p + "v_proj.bias").v);
    }
    if (type == "olmoe") {  // norms over the whole projection, then the clamp
      q[t] = rmsnorm(q[t], get(w, p + "q_norm.weight"), eps);
      k[t] = rmsnorm(k[t], get(w, p + "k_norm.weight"), eps);
    }
    if (type == "qwen3_moe") {  // a norm per head
      for (int64_t h = 0; h < H; ++h) {
        Vec a(q[t].begin() + h * hd, q[t].begin() + (h + 1) * hd);
        a = rmsnorm(a, get(w, p + "q_norm.weight"), eps);
        std::copy(a.begin(), a.end(), q[t].begin() + h * hd);
      }
      for (int64_t g = 0; g < G; ++g) {
        Vec a(k[t].begin() + g * hd, k[t].begin() + (g + 1) * hd);
        a = rmsnorm(a, get(w, p + "k_norm.weight"), eps);
        std::copy(a.begin(), a.end(), k[t].begin() + g * hd);
      }
    }
    if (clip > 0)
      for (Vec* m : {&q[t], &k[t], &v[t]})
        for (double& a : *m) a = std::clamp(a, -clip, clip);
    for (int64_t h = 0; h < H; ++h) rope_half(&q[t][h * hd], hd, f, t, af);
    for (int64_t g = 0; g < G; ++g) rope_half(&k[t][g * hd], hd, f, t, af);
  }
  // Each KV head serves H/G consecutive query heads: expand.
  Mat ke(T, Vec(H * hd)), ve(T, Vec(H * hd));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < hd; ++i) {
        ke[t][h * hd + i] = k[t][(h / (H / G)) * hd + i];
        ve[t][h * hd + i] = v[t][(h / (H / G)) * hd + i];
      }
  Mat o = attend(q, ke, ve, H, hd, hd, 1.0 / std::sqrt(static_cast<double>(hd)));
  for (auto& r : o) r = lin(w, p + "o_proj", r);
  return o;
}

Mat mla_attention(const nlohmann::json& c, const Weights& w, const std::string& p, const Mat& x) {
  const int64_t H = c["num_attention_heads"], R = c["kv_lora_rank"];
  const int64_t n = c["qk_nope_head_dim"], r = c["qk_rope_head_dim"], dv = c["v_head_dim"];
  const bool has_q_lora = c.contains("q_lora_rank") && !c["q_lora_rank"].is_null();
  double af;
  const Vec f = inv_freq(c, r, &af);
  double scale = 1.0 / std::sqrt(static_cast<double>(n + r));
  // transformers 5.x (yarn_apply_mscale) scales the softmax of deepseek_v2 and deepseek_v3 alike.
  if (c.contains("rope_scaling") && !c["rope_scaling"].is_null()) {
    const double mad = jnum(c["rope_scaling"], "mscale_all_dim", 0);
    if (mad != 0) {
      const double m = 0.1 * mad * std::log(c["rope_scaling"]["factor"].get<double>()) + 1.0;
      scale *= m * m;
    }
  }
  const int64_t T = static_cast<int64_t>(x.size());
  Mat q(T, Vec(H * (n + r))), k(T, Vec(H * (n + r))), v(T, Vec(H * dv));
  for (int64_t t = 0; t < T; ++t) {
    Vec qa = has_q_lora ? lin(w, p + "q_b_proj", rmsnorm(lin(w, p + "q_a_proj", x[t]), get(w, p + "q_a_layernorm.weight"), 1e-6))
                        : lin(w, p + "q_proj", x[t]);
    Vec kva = lin(w, p + "kv_a_proj_with_mqa", x[t]);
    Vec ckv(kva.begin(), kva.begin() + R), kpe(kva.begin() + R, kva.end());
    rope_pairs(kpe.data(), r, f, t, af);
    Vec kvb = lin(w, p + "kv_b_proj", rmsnorm(ckv, get(w, p + "kv_a_layernorm.weight"), 1e-6));
    for (int64_t h = 0; h < H; ++h) {
      double* qh = &qa[h * (n + r)];
      rope_pairs(qh + n, r, f, t, af);
      for (int64_t i = 0; i < n + r; ++i) q[t][h * (n + r) + i] = qh[i];
      for (int64_t i = 0; i < n; ++i) k[t][h * (n + r) + i] = kvb[h * (n + dv) + i];
      for (int64_t i = 0; i < r; ++i) k[t][h * (n + r) + n + i] = kpe[i];
      for (int64_t i = 0; i < dv; ++i) v[t][h * dv + i] = kvb[h * (n + dv) + n + i];
    }
  }
  Mat o = attend(q, k, v, H, n + r, dv, scale);
  for (auto& row : o) row = lin(w, p + "o_proj", row);
  return o;
}

bool is_moe_layer(const nlohmann::json& c, const std::string& type, int64_t l) {
  if (type == "deepseek_v3" || type == "deepseek_v2") return l >= jint(c, "first_k_dense_replace", 0);
  if (type == "qwen2_moe" || type == "qwen3_moe") {
    if (c.contains("mlp_only_layers"))
      for (const auto& m : c["mlp_only_layers"])
        if (m.get<int64_t>() == l) return false;
    return (l + 1) % jint(c, "decoder_sparse_step", 1) == 0;
  }
  return true;  // mixtral, olmoe
}

Vec moe(const nlohmann::json& c, const std::string& type, const Weights& w, const std::string& p, const Vec& x,
        double* margin) {
  const std::string mp = type == "mixtral" ? p + "block_sparse_moe." : p + "mlp.";
  const Vec logits = lin(w, mp + "gate", x);
  const int64_t E = static_cast<int64_t>(logits.size()), K = c["num_experts_per_tok"];
  std::vector<int64_t> idx;
  Vec wt;
  if (type == "deepseek_v3") {
    Vec s(E), sc(E);
    const Tensor& b = get(w, mp + "gate.e_score_correction_bias");
    for (int64_t e = 0; e < E; ++e) sc[e] = (s[e] = sigmoid(logits[e])) + b.v[e];
    const int64_t G = jint(c, "n_group", 1), TG = jint(c, "topk_group", 1), per = E / G;
    Vec gs(G);
    for (int64_t g = 0; g < G; ++g) {
      Vec part(sc.begin() + g * per, sc.begin() + (g + 1) * per);
      std::sort(part.rbegin(), part.rend());
      gs[g] = part[0] + part[1];
    }
    auto groups = topk(gs, TG, margin);
    Vec masked(E, 0.0);  // transformers fills the other groups with 0.0
    for (int64_t g : groups)
      for (int64_t e = g * per; e < (g + 1) * per; ++e) masked[e] = sc[e];
    idx = topk(masked, K, margin);
    for (int64_t e : idx) wt.push_back(s[e]);
    if (c.value("norm_topk_prob", true)) {
      double sum = 1e-20;
      for (double a : wt) sum += a;
      for (double& a : wt) a /= sum;
    }
    for (double& a : wt) a *= jnum(c, "routed_scaling_factor", 1.0);
  } else {
    const Vec s = softmax(logits);
    if (type == "deepseek_v2" && c.value("topk_method", std::string("greedy")) == "group_limited_greedy") {
      const int64_t G = c["n_group"], TG = c["topk_group"], per = E / G;
      Vec gs(G);
      for (int64_t g = 0; g < G; ++g) gs[g] = *std::max_element(s.begin() + g * per, s.begin() + (g + 1) * per);
      auto groups = topk(gs, TG, margin);
      Vec masked(E, 0.0);
      for (int64_t g : groups)
        for (int64_t e = g * per; e < (g + 1) * per; ++e) masked[e] = s[e];
      idx = topk(masked, K, margin);
    } else {
      idx = topk(s, K, margin);
    }
    for (int64_t e : idx) wt.push_back(s[e]);
    const bool norm = type == "mixtral" || (type != "deepseek_v2" && c.value("norm_topk_prob", false));
    if (norm) {
      double sum = 0;
      for (double a : wt) sum += a;
      for (double& a : wt) a /= sum;
    }
    if (type == "deepseek_v2")
      for (double& a : wt) a *= jnum(c, "routed_scaling_factor", 1.0);
  }
  Vec y(x.size(), 0.0);
  for (size_t j = 0; j < idx.size(); ++j) {
    const std::string ep = mp + "experts." + std::to_string(idx[j]) + ".";
    add(y, type == "mixtral" ? swiglu(w, ep, x, "w1", "w3", "w2") : swiglu(w, ep, x), wt[j]);
  }
  if (type == "deepseek_v3" || type == "deepseek_v2") {
    if (jint(c, "n_shared_experts", 0) > 0) add(y, swiglu(w, mp + "shared_experts.", x));
  } else if (type == "qwen2_moe" && jint(c, "shared_expert_intermediate_size", 0) > 0) {
    const double g = sigmoid(lin(w, mp + "shared_expert_gate", x)[0]);
    add(y, swiglu(w, mp + "shared_expert.", x), g);
  }
  return y;
}

}  // namespace

Result forward(const nlohmann::json& c, const Weights& w, const std::vector<int64_t>& ids) {
  const std::string type = c["model_type"];
  const int64_t L = c["num_hidden_layers"], D = c["hidden_size"];
  const double eps = jnum(c, "rms_norm_eps", 1e-6);
  const int64_t T = static_cast<int64_t>(ids.size());
  Result res;
  const Tensor& emb = get(w, "model.embed_tokens.weight");
  Mat h(T, Vec(D));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < D; ++i) h[t][i] = emb.v[ids[t] * D + i];
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Mat a(T);
    for (int64_t t = 0; t < T; ++t) a[t] = rmsnorm(h[t], get(w, p + "input_layernorm.weight"), eps);
    const bool mla = type == "deepseek_v3" || type == "deepseek_v2";
    Mat o = mla ? mla_attention(c, w, p + "self_attn.", a)
                : gqa_attention(c, type, w, p + "self_attn.", a);
    for (int64_t t = 0; t < T; ++t) add(h[t], o[t]);
    for (int64_t t = 0; t < T; ++t) {
      const Vec m = rmsnorm(h[t], get(w, p + "post_attention_layernorm.weight"), eps);
      add(h[t], is_moe_layer(c, type, l) ? moe(c, type, w, p, m, &res.min_margin) : swiglu(w, p + "mlp.", m));
    }
  }
  const bool tied = c.value("tie_word_embeddings", false);
  const Tensor& head = tied ? emb : get(w, "lm_head.weight");
  for (int64_t t = 0; t < T; ++t) res.logits.push_back(matvec(head, rmsnorm(h[t], get(w, "model.norm.weight"), eps)));
  return res;
}

std::vector<int64_t> greedy(const nlohmann::json& c, const Weights& w, std::vector<int64_t> ids, int n_new,
                            double* min_margin) {
  std::vector<int64_t> out;
  for (int i = 0; i < n_new; ++i) {
    Result r = forward(c, w, ids);
    double m = r.min_margin;
    const auto best = topk(r.logits.back(), 1, &m);
    if (min_margin) *min_margin = std::min(*min_margin, m);
    out.push_back(best[0]);
    ids.push_back(best[0]);
  }
  return out;
}

}  // namespace moescope::hfref
