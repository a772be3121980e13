// resource_estimate.cpp: see resource_estimate.h.
#include "model/resource_estimate.h"

#include <algorithm>
#include <stdexcept>

#include <torch/version.h>

#include "core/host_memory.h"

namespace moescope {
namespace {

double kv_heads(const ModelConfig& c) {
  return static_cast<double>(c.attn.n_kv_heads ? c.attn.n_kv_heads : c.attn.n_heads);
}
double head_dim(const ModelConfig& c) {
  return static_cast<double>(c.attn.head_dim ? c.attn.head_dim : c.d_model / c.attn.n_heads);
}
double shared_hidden(const MoEConfig& m) {
  return m.n_shared > 0 ? static_cast<double>(m.shared_hidden > 0 ? m.shared_hidden : m.n_shared * m.expert_hidden) : 0;
}

// Parameters of one attention block (projections and MLA's norms).
double attention_params(const ModelConfig& c) {
  const auto& a = c.attn;
  const double D = c.d_model, H = a.n_heads;
  if (a.type == AttnType::kMla) {
    const double n = a.qk_nope_head_dim, p = a.qk_rope_head_dim, v = a.v_head_dim, R = a.kv_lora_rank,
                 Q = a.q_lora_rank;
    const double q = Q > 0 ? D * Q + Q + Q * H * (n + p) : D * H * (n + p);
    return q + D * (R + p) + R + R * H * (n + v) + H * v * D;
  }
  const double hd = head_dim(c), G = kv_heads(c);
  const double bias = a.qkv_bias ? (H + 2 * G) * hd : 0;
  const double norms = a.qk_norm == QkNorm::kFull ? (H + G) * hd : a.qk_norm == QkNorm::kHead ? 2 * hd : 0;
  return 2 * D * H * hd + 2 * D * G * hd + bias + norms;
}

// Activation elements per token of one attention block's projections (without the scores).
double attention_activations(const ModelConfig& c) {
  const auto& a = c.attn;
  const double H = a.n_heads;
  if (a.type == AttnType::kMla) {
    const double n = a.qk_nope_head_dim, p = a.qk_rope_head_dim, v = a.v_head_dim, R = a.kv_lora_rank;
    return 2 * H * (n + p) + 2 * a.q_lora_rank + (R + p) + R + H * (n + v) + H * (n + p) + H * v;
  }
  const double hd = head_dim(c), G = kv_heads(c);
  return 3 * H * hd + 3 * G * hd;
}

}  // namespace

int64_t cache_bytes_per_token(const ModelConfig& cfg, int64_t dtype_bytes) {
  if (cfg.attn.type == AttnType::kMla)
    return (cfg.attn.kv_lora_rank + cfg.attn.qk_rope_head_dim) * cfg.n_layers * dtype_bytes;
  return static_cast<int64_t>(2 * kv_heads(cfg) * head_dim(cfg)) * cfg.n_layers * dtype_bytes;
}

double ResourceEstimate::train_peak_bytes() const {
  double s = std::max(activations.bytes, checkpoint.bytes);
  for (const auto& t : resident) s += t.bytes;
  return s;
}

const ResourceTerm& ResourceEstimate::largest() const {
  const ResourceTerm* best = activations.bytes >= checkpoint.bytes ? &activations : &checkpoint;
  for (const auto& t : resident)
    if (t.bytes > best->bytes) best = &t;
  return *best;
}

std::string ResourceEstimate::summary() const {
  std::string s =
      world > 1 ? "per rank of " + std::to_string(world) +
                      (expert_parallel > 1 ? " (expert parallel " + std::to_string(expert_parallel) + ")" : "") + ": "
                : "";
  for (const auto& t : resident) s += t.name + " " + format_bytes(t.bytes) + ", ";
  s += activations.name + " " + format_bytes(activations.bytes) + " (or " + checkpoint.name + " " +
       format_bytes(checkpoint.bytes) + ") = " + format_bytes(train_peak_bytes()) + " peak to train; " + kv_cache.name +
       " " + format_bytes(kv_cache.bytes);
  return s;
}

ResourceEstimate estimate_resources(const ModelConfig& c, const TrainConfig& t, int world, int expert_parallel) {
  if (world < 1 || expert_parallel < 1 || world % expert_parallel != 0)
    throw std::invalid_argument("resource estimate: expert parallelism " + std::to_string(expert_parallel) +
                                " does not divide the world size " + std::to_string(world));
  const auto& m = c.moe;
  const double D = c.d_model, V = c.vocab_size, L = c.n_layers;
  const double n_moe = static_cast<double>(c.n_moe_layers());
  const double n_dense = L - n_moe;
  const double E = m.n_routed, F = m.expert_hidden, K = m.top_k, Fs = shared_hidden(m);

  // Parameter groups, each with the keys that size it.
  struct Group {
    double params;
    const char* driver;
  };
  const std::vector<Group> groups = {
      {V * D * (c.tie_embeddings ? 1 : 2), "model.vocab_size x model.d_model (embeddings and head)"},
      {L * attention_params(c), "model.n_layers x model.d_model x attn.n_heads x the head widths (attention)"},
      {n_moe * E * (3 * D * F + D),
       "model.n_layers x moe.n_routed x moe.expert_hidden x model.d_model (routed experts)"},
      {n_moe * (3 * D * Fs + (m.shared_expert_gate ? D : 0)),
       "moe.n_shared x moe.expert_hidden or moe.shared_hidden (shared experts)"},
      {n_dense * 3 * D * c.dense_hidden, "model.dense_hidden (dense layers)"},
      {(2 * L + 1) * D, "model.n_layers x model.d_model (norms)"}};
  ResourceEstimate e;
  const Group* big = &groups[0];
  for (const auto& g : groups) {
    e.params_total += g.params;
    if (g.params > big->params) big = &g;
  }
  e.params_active = e.params_total - n_moe * (E - K) * 3 * D * F;
  e.world = world;
  e.expert_parallel = expert_parallel;
  const double not_held = n_moe * E * 3 * D * F * (1.0 - 1.0 / expert_parallel);  // other ranks' experts
  e.params_rank = e.params_total - not_held;
  const double P = e.params_rank;
  const double cb = t.dtype == DType::kBf16 ? 2 : 4;
  e.resident = {{"weights", 4 * P, big->driver}, {"gradients", 4 * P, big->driver}, {"AdamW", 8 * P, big->driver}};
  if (cb == 2) e.resident.push_back({"bf16 copies", 2 * P, big->driver});
  e.checkpoint = {"checkpoint write", 24 * e.params_total + 12 * not_held, big->driver};

  // Activations per token, by part, each with its driver.
  const double S = t.seq_len, tokens = static_cast<double>(t.batch_size) / world * S;  // this rank's rows
  struct Part {
    double bytes_per_token;
    const char* driver;
  };
  const double H = c.attn.n_heads;
  const double qk = c.attn.type == AttnType::kMla ? c.attn.qk_nope_head_dim + c.attn.qk_rope_head_dim : head_dim(c);
  const std::vector<Part> parts = {
#if TORCH_VERSION_MAJOR >= 2
    // The fused causal kernel (attention_core.h, mla.h): q, k, v (padded to the q/k width)
    // and the output as it keeps them, plus its fp32 log-sum-exp per head; no S x S scores.
    {L * H * (4 * qk * cb + 4), "train.batch_size x train.seq_len x attn.n_heads x model.n_layers (attention)"},
#else
    {L * H * S * (2 * cb + 8), "train.batch_size x train.seq_len^2 x attn.n_heads x model.n_layers (attention scores)"},
#endif
    {L * (4 * D + attention_activations(c)) * cb, "train.batch_size x train.seq_len x model.n_layers x model.d_model"},
    {n_moe * (16 * E + (K * (2 * D + 4 * F) + 4 * Fs) * cb) + n_dense * 4 * c.dense_hidden * cb,
     "train.batch_size x train.seq_len x moe.top_k x moe.expert_hidden (expert activations)"},
    {V * (cb + 8), "train.batch_size x train.seq_len x model.vocab_size (logits)"}
  };
  const Part* top = &parts[0];
  double per_token = 0;
  for (const auto& p : parts) {
    per_token += p.bytes_per_token;
    if (p.bytes_per_token > top->bytes_per_token) top = &p;
  }
  e.activations = {"activations", tokens * per_token, top->driver};
  e.kv_cache = {"KV cache", static_cast<double>(c.max_seq_len) * static_cast<double>(cache_bytes_per_token(c, 4)),
                "model.max_seq_len x model.n_layers (generation)"};
  return e;
}

void check_fits_memory(const ResourceEstimate& e, double limit_bytes, const std::string& limit_source) {
  if (limit_bytes <= 0 || e.train_peak_bytes() <= limit_bytes) return;
  const ResourceTerm& big = e.largest();
  throw std::runtime_error("this model needs about " + format_bytes(e.train_peak_bytes()) +
                           " to train, more than the " + format_bytes(limit_bytes) + " available (" + limit_source +
                           "). The largest term is " + big.name + " (" + format_bytes(big.bytes) + "), driven by " +
                           big.driver + ": lower those keys. Estimate: " + e.summary());
}

}  // namespace moescope
