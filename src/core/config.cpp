// config.cpp: validation and key binding for the config structs (see config.h).
#include "core/config.h"

#include <sstream>
#include <stdexcept>

namespace moescope {
namespace {

template <class T>
[[noreturn]] void bad(const std::string& field, const T& value, const std::string& why) {
  std::ostringstream o;
  o << "config: " << field << " = " << value << ": " << why;
  throw std::invalid_argument(o.str());
}

void require_positive(const std::string& field, int64_t v) {
  if (v <= 0) bad(field, v, "must be > 0");
}

void require_one_of(const std::string& field, const std::string& v,
                    std::initializer_list<const char*> allowed) {
  std::string list;
  for (auto a : allowed) {
    if (v == a) return;
    list += std::string(list.empty() ? "" : ", ") + a;
  }
  bad(field, "'" + v + "'", "must be one of " + list);
}

}  // namespace

int64_t ModelConfig::n_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers; ++l) n += is_moe_layer(l);
  return n;
}

void ModelConfig::validate() const {
  require_positive("model.vocab_size", vocab_size);
  require_positive("model.d_model", d_model);
  require_positive("model.n_layers", n_layers);
  require_positive("model.max_seq_len", max_seq_len);
  require_one_of("model.ffn", ffn, {"moe", "dense"});
  if (norm_eps <= 0) bad("model.norm_eps", norm_eps, "must be > 0");
  if (init_std <= 0) bad("model.init_std", init_std, "must be > 0");

  const auto& a = attn;
  require_one_of("attn.type", a.type, {"mla", "mha"});
  require_positive("attn.n_heads", a.n_heads);
  if (a.rope_theta <= 0) bad("attn.rope_theta", a.rope_theta, "must be > 0");
  if (a.type == "mha") {
    if (a.n_kv_heads < 0) bad("attn.n_kv_heads", a.n_kv_heads, "must be >= 0 (0 = n_heads)");
    int64_t kv = a.n_kv_heads ? a.n_kv_heads : a.n_heads;
    if (a.n_heads % kv != 0)
      bad("attn.n_kv_heads", kv, "must divide attn.n_heads = " + std::to_string(a.n_heads));
    if (a.head_dim < 0) bad("attn.head_dim", a.head_dim, "must be >= 0 (0 = d_model / n_heads)");
    if (a.head_dim == 0 && d_model % a.n_heads != 0)
      bad("attn.n_heads", a.n_heads, "must divide model.d_model = " + std::to_string(d_model));
    int64_t hd = a.head_dim ? a.head_dim : d_model / a.n_heads;
    if (hd % 2) bad("attn.head_dim", hd, "must be even (RoPE rotates pairs)");
  } else {
    if (a.q_lora_rank < 0) bad("attn.q_lora_rank", a.q_lora_rank, "must be >= 0 (0 = full rank)");
    require_positive("attn.kv_lora_rank", a.kv_lora_rank);
    require_positive("attn.qk_nope_head_dim", a.qk_nope_head_dim);
    require_positive("attn.qk_rope_head_dim", a.qk_rope_head_dim);
    require_positive("attn.v_head_dim", a.v_head_dim);
    if (a.qk_rope_head_dim % 2) bad("attn.qk_rope_head_dim", a.qk_rope_head_dim, "must be even (RoPE rotates pairs)");
  }

  if (ffn == "dense" || moe.first_k_dense > 0) require_positive("model.dense_hidden", dense_hidden);
  if (ffn == "moe") {
    const auto& m = moe;
    require_positive("moe.n_routed", m.n_routed);
    if (m.n_shared < 0) bad("moe.n_shared", m.n_shared, "must be >= 0");
    require_positive("moe.expert_hidden", m.expert_hidden);
    if (m.shared_hidden < 0) bad("moe.shared_hidden", m.shared_hidden, "must be >= 0 (0 = n_shared * expert_hidden)");
    require_positive("moe.top_k", m.top_k);
    if (m.top_k > m.n_routed)
      bad("moe.top_k", m.top_k, "must be <= moe.n_routed = " + std::to_string(m.n_routed));
    if (m.first_k_dense < 0 || m.first_k_dense > n_layers)
      bad("moe.first_k_dense", m.first_k_dense, "must be in [0, model.n_layers]");
    require_one_of("moe.score_func", m.score_func, {"softmax", "sigmoid"});
    if (m.routed_scaling_factor <= 0) bad("moe.routed_scaling_factor", m.routed_scaling_factor, "must be > 0");
    require_positive("moe.n_group", m.n_group);
    if (m.n_routed % m.n_group != 0)
      bad("moe.n_group", m.n_group, "must divide moe.n_routed = " + std::to_string(m.n_routed));
    if (m.topk_group <= 0 || m.topk_group > m.n_group)
      bad("moe.topk_group", m.topk_group, "must be in [1, moe.n_group = " + std::to_string(m.n_group) + "]");
    if (m.top_k > m.topk_group * (m.n_routed / m.n_group))
      bad("moe.top_k", m.top_k, "exceeds the experts reachable in moe.topk_group groups (" +
                                    std::to_string(m.topk_group * (m.n_routed / m.n_group)) + ")");
    require_one_of("moe.jitter", m.jitter, {"none", "input", "logits"});
    if (m.jitter_eps < 0 || (m.jitter == "input" && m.jitter_eps >= 1))
      bad("moe.jitter_eps", m.jitter_eps, m.jitter == "input" ? "must be in [0, 1)" : "must be >= 0");
    if (m.bias_update_rate < 0) bad("moe.bias_update_rate", m.bias_update_rate, "must be >= 0");
    if (m.aux_loss_alpha < 0) bad("moe.aux_loss_alpha", m.aux_loss_alpha, "must be >= 0");
    if (m.seq_aux_loss_alpha < 0) bad("moe.seq_aux_loss_alpha", m.seq_aux_loss_alpha, "must be >= 0");
    if (m.z_loss_beta < 0) bad("moe.z_loss_beta", m.z_loss_beta, "must be >= 0");
    if (m.capacity_factor < 0) bad("moe.capacity_factor", m.capacity_factor, "must be >= 0 (0 = dropless)");
    require_one_of("moe.drop_policy", m.drop_policy, {"score", "position"});
  }
}

void ModelConfig::bind(FieldTable& t, const std::string& p) {
  t.add(p + ".vocab_size", vocab_size);
  t.add(p + ".d_model", d_model);
  t.add(p + ".n_layers", n_layers);
  t.add(p + ".max_seq_len", max_seq_len);
  t.add(p + ".ffn", ffn);
  t.add(p + ".dense_hidden", dense_hidden);
  t.add(p + ".tie_embeddings", tie_embeddings);
  t.add(p + ".norm_eps", norm_eps);
  t.add(p + ".init_std", init_std);
  t.add("attn.type", attn.type);
  t.add("attn.n_heads", attn.n_heads);
  t.add("attn.n_kv_heads", attn.n_kv_heads);
  t.add("attn.head_dim", attn.head_dim);
  t.add("attn.q_lora_rank", attn.q_lora_rank);
  t.add("attn.kv_lora_rank", attn.kv_lora_rank);
  t.add("attn.qk_nope_head_dim", attn.qk_nope_head_dim);
  t.add("attn.qk_rope_head_dim", attn.qk_rope_head_dim);
  t.add("attn.v_head_dim", attn.v_head_dim);
  t.add("attn.rope_theta", attn.rope_theta);
  t.add("moe.n_routed", moe.n_routed);
  t.add("moe.n_shared", moe.n_shared);
  t.add("moe.expert_hidden", moe.expert_hidden);
  t.add("moe.shared_hidden", moe.shared_hidden);
  t.add("moe.top_k", moe.top_k);
  t.add("moe.first_k_dense", moe.first_k_dense);
  t.add("moe.score_func", moe.score_func);
  t.add("moe.norm_topk_prob", moe.norm_topk_prob);
  t.add("moe.routed_scaling_factor", moe.routed_scaling_factor);
  t.add("moe.n_group", moe.n_group);
  t.add("moe.topk_group", moe.topk_group);
  t.add("moe.jitter", moe.jitter);
  t.add("moe.jitter_eps", moe.jitter_eps);
  t.add("moe.bias_balance", moe.bias_balance);
  t.add("moe.bias_update_rate", moe.bias_update_rate);
  t.add("moe.bias_zero_center", moe.bias_zero_center);
  t.add("moe.aux_loss_alpha", moe.aux_loss_alpha);
  t.add("moe.seq_aux_loss_alpha", moe.seq_aux_loss_alpha);
  t.add("moe.z_loss_beta", moe.z_loss_beta);
  t.add("moe.capacity_factor", moe.capacity_factor);
  t.add("moe.drop_policy", moe.drop_policy);
}

void DataConfig::validate() const {
  if (tokenizer.rfind("hf:", 0) == 0) {
    if (tokenizer.size() == 3) bad("data.tokenizer", tokenizer, "hf: needs a path (hf:PATH, a tokenizer.json or its directory)");
  } else {
    require_one_of("data.tokenizer", tokenizer, {"char", "byte", "bpe"});
  }
  if (tokenizer == "bpe" && (bpe_vocab_size < 64 || bpe_vocab_size > 1000000))
    bad("data.bpe_vocab_size", bpe_vocab_size, "must be in [64, 1000000]");
  if (!(val_fraction > 0 && val_fraction < 1)) bad("data.val_fraction", val_fraction, "must be in (0, 1)");
}

void DataConfig::bind(FieldTable& t) {
  t.add("data.path", path);
  t.add("data.tokenizer", tokenizer);
  t.add("data.bpe_vocab_size", bpe_vocab_size);
  t.add("data.val_fraction", val_fraction);
  t.add("data.cache_dir", cache_dir);
}

void TrainConfig::validate() const {
  require_one_of("train.device", device, {"cpu", "cuda", "auto"});
  require_one_of("train.dtype", dtype, {"auto", "bf16", "fp32"});
  require_positive("train.batch_size", batch_size);
  require_positive("train.seq_len", seq_len);
  require_positive("train.grad_accum", grad_accum);
  require_positive("train.max_steps", max_steps);
  if (max_minutes < 0) bad("train.max_minutes", max_minutes, "must be >= 0 (0 = no limit)");
  if (!(lr > 0)) bad("train.lr", lr, "must be > 0");
  if (min_lr_ratio < 0 || min_lr_ratio > 1) bad("train.min_lr_ratio", min_lr_ratio, "must be in [0, 1]");
  if (warmup_steps < 0) bad("train.warmup_steps", warmup_steps, "must be >= 0");
  if (weight_decay < 0) bad("train.weight_decay", weight_decay, "must be >= 0");
  if (beta1 < 0 || beta1 >= 1) bad("train.beta1", beta1, "must be in [0, 1)");
  if (beta2 < 0 || beta2 >= 1) bad("train.beta2", beta2, "must be in [0, 1)");
  if (!(adam_eps > 0)) bad("train.adam_eps", adam_eps, "must be > 0");
  if (grad_clip < 0) bad("train.grad_clip", grad_clip, "must be >= 0 (0 = off)");
  if (!(router_lr_mult > 0)) bad("train.router_lr_mult", router_lr_mult, "must be > 0");
  require_positive("train.log_every", log_every);
  require_positive("train.eval_every", eval_every);
  if (eval_max_batches < 0) bad("train.eval_max_batches", eval_max_batches, "must be >= 0 (0 = all)");
  require_positive("train.ckpt_every", ckpt_every);
  require_positive("train.max_nonfinite", max_nonfinite);
  if (threads < 0 || threads > 1024) bad("train.threads", threads, "must be in [0, 1024] (0 = automatic)");
}

void TrainConfig::bind(FieldTable& t) {
  t.add("train.device", device);
  t.add("train.dtype", dtype);
  t.add("train.threads", threads);
  t.add("train.seed", seed);
  t.add("train.batch_size", batch_size);
  t.add("train.seq_len", seq_len);
  t.add("train.grad_accum", grad_accum);
  t.add("train.max_steps", max_steps);
  t.add("train.max_minutes", max_minutes);
  t.add("train.lr", lr);
  t.add("train.min_lr_ratio", min_lr_ratio);
  t.add("train.warmup_steps", warmup_steps);
  t.add("train.weight_decay", weight_decay);
  t.add("train.decay_embeddings", decay_embeddings);
  t.add("train.beta1", beta1);
  t.add("train.beta2", beta2);
  t.add("train.adam_eps", adam_eps);
  t.add("train.grad_clip", grad_clip);
  t.add("train.router_lr_mult", router_lr_mult);
  t.add("train.log_every", log_every);
  t.add("train.eval_every", eval_every);
  t.add("train.eval_max_batches", eval_max_batches);
  t.add("train.ckpt_every", ckpt_every);
  t.add("train.max_nonfinite", max_nonfinite);
}

void ScopeConfig::validate() const {
  require_positive("scope.coact_every", coact_every);
  require_positive("scope.window", window);
  if (!(entropy_floor >= 0 && entropy_floor <= 1)) bad("scope.entropy_floor", entropy_floor, "must be in [0, 1]");
  if (!(max_share > 0 && max_share <= 1)) bad("scope.max_share", max_share, "must be in (0, 1]");
  if (!(neff_fraction >= 0 && neff_fraction <= 1)) bad("scope.neff_fraction", neff_fraction, "must be in [0, 1]");
  if (!(maxvio_ceiling > 0)) bad("scope.maxvio_ceiling", maxvio_ceiling, "must be > 0");
  if (trend_window < 2) bad("scope.trend_window", trend_window, "must be >= 2");
  if (!(max_bias_update_rate > 0)) bad("scope.max_bias_update_rate", max_bias_update_rate, "must be > 0");
  if (!(max_jitter_eps > 0 && max_jitter_eps < 1)) bad("scope.max_jitter_eps", max_jitter_eps, "must be in (0, 1)");
  if (!(max_seq_aux_loss_alpha > 0)) bad("scope.max_seq_aux_loss_alpha", max_seq_aux_loss_alpha, "must be > 0");
  if (!(max_z_loss_beta > 0)) bad("scope.max_z_loss_beta", max_z_loss_beta, "must be > 0");
  if (!(saturated_router_entropy >= 0 && saturated_router_entropy <= 1))
    bad("scope.saturated_router_entropy", saturated_router_entropy, "must be in [0, 1]");
  if (cooldown < 1) bad("scope.cooldown", cooldown, "must be >= 1");
}

void ScopeConfig::bind(FieldTable& t) {
  t.add("scope.enabled", enabled);
  t.add("scope.coact_every", coact_every);
  t.add("scope.tensorboard", tensorboard);
  t.add("scope.window", window);
  t.add("scope.entropy_floor", entropy_floor);
  t.add("scope.max_share", max_share);
  t.add("scope.neff_fraction", neff_fraction);
  t.add("scope.maxvio_ceiling", maxvio_ceiling);
  t.add("scope.trend_window", trend_window);
  t.add("scope.trend_slope", trend_slope);
  t.add("scope.remediate", remediate);
  t.add("scope.max_bias_update_rate", max_bias_update_rate);
  t.add("scope.max_jitter_eps", max_jitter_eps);
  t.add("scope.max_seq_aux_loss_alpha", max_seq_aux_loss_alpha);
  t.add("scope.max_z_loss_beta", max_z_loss_beta);
  t.add("scope.saturated_router_entropy", saturated_router_entropy);
  t.add("scope.cooldown", cooldown);
}

void CompressConfig::validate() const {
  require_one_of("compress.scope", scope, {"layer", "global"});
  {
    std::stringstream ss(families);
    std::string tok;
    int n = 0;
    while (std::getline(ss, tok, ',')) {
      require_one_of("compress.families", tok, {"gate", "up"});
      ++n;
    }
    if (n == 0) bad("compress.families", "'" + families + "'", "must list gate and/or up");
  }
  if (!(rank_ratio > 0 && rank_ratio <= 1)) bad("compress.rank_ratio", rank_ratio, "must be in (0, 1]");
  if (rank < 0) bad("compress.rank", rank, "must be >= 0 (0 = use rank_ratio)");
  if (!(basis_ratio > 0 && basis_ratio <= 1)) bad("compress.basis_ratio", basis_ratio, "must be in (0, 1]");
  if (n_bases < 0) bad("compress.n_bases", n_bases, "must be >= 0 (0 = use basis_ratio)");
  require_one_of("compress.activation", activation, {"identity", "silu", "tanh"});
  require_one_of("compress.solver", solver, {"gradient", "altmin"});
  require_one_of("compress.init", init, {"svd", "pca", "random"});
  require_positive("compress.max_iters", max_iters);
  if (!(lr > 0)) bad("compress.lr", lr, "must be > 0");
  if (!(lr_min_ratio >= 0 && lr_min_ratio <= 1)) bad("compress.lr_min_ratio", lr_min_ratio, "must be in [0, 1]");
  if (!(ridge >= 0)) bad("compress.ridge", ridge, "must be >= 0");
  if (!(bank_ridge >= 0)) bad("compress.bank_ridge", bank_ridge, "must be >= 0");
  require_positive("compress.code_steps", code_steps);
  if (!(temperature > 0)) bad("compress.temperature", temperature, "must be > 0");
  if (!(prune_eps >= 0 && prune_eps < 1)) bad("compress.prune_eps", prune_eps, "must be in [0, 1)");
  if (target_support < 0) bad("compress.target_support", target_support, "must be >= 0 (0 = no target)");
  if (!(temperature_step > 1)) bad("compress.temperature_step", temperature_step, "must be > 1");
  if (!(target_rel_error >= 0)) bad("compress.target_rel_error", target_rel_error, "must be >= 0 (0 = off)");
  if (plateau_iters < 0) bad("compress.plateau_iters", plateau_iters, "must be >= 0 (0 = off)");
  if (!(plateau_tol >= 0)) bad("compress.plateau_tol", plateau_tol, "must be >= 0");
  if (!(max_coherence >= 0 && max_coherence <= 1)) bad("compress.max_coherence", max_coherence, "must be in [0, 1] (0 = off)");
}

void CompressConfig::bind(FieldTable& t) {
  t.add("compress.scope", scope);
  t.add("compress.families", families);
  t.add("compress.rank_ratio", rank_ratio);
  t.add("compress.rank", rank);
  t.add("compress.basis_ratio", basis_ratio);
  t.add("compress.n_bases", n_bases);
  t.add("compress.activation", activation);
  t.add("compress.solver", solver);
  t.add("compress.init", init);
  t.add("compress.normalise", normalise);
  t.add("compress.seed", seed);
  t.add("compress.max_iters", max_iters);
  t.add("compress.lr", lr);
  t.add("compress.lr_min_ratio", lr_min_ratio);
  t.add("compress.ridge", ridge);
  t.add("compress.bank_ridge", bank_ridge);
  t.add("compress.code_steps", code_steps);
  t.add("compress.temperature", temperature);
  t.add("compress.sparse", sparse);
  t.add("compress.prune_eps", prune_eps);
  t.add("compress.target_support", target_support);
  t.add("compress.temperature_step", temperature_step);
  t.add("compress.target_rel_error", target_rel_error);
  t.add("compress.plateau_iters", plateau_iters);
  t.add("compress.plateau_tol", plateau_tol);
  t.add("compress.max_coherence", max_coherence);
  t.add("compress.stop_on_nonfinite", stop_on_nonfinite);
}

FieldTable Config::fields() {
  FieldTable t;
  model.bind(t);
  data.bind(t);
  train.bind(t);
  scope.bind(t);
  compress.bind(t);
  return t;
}

void Config::validate() const {
  model.validate();
  data.validate();
  train.validate();
  scope.validate();
  compress.validate();
  if (train.seq_len > model.max_seq_len)
    bad("train.seq_len", train.seq_len, "exceeds model.max_seq_len = " + std::to_string(model.max_seq_len));
}

Config load_config(const std::string& toml_path, const std::vector<std::string>& assignments) {
  Config c;
  FieldTable t = c.fields();
  if (!toml_path.empty()) t.load_toml_file(toml_path);
  for (auto& a : assignments) t.apply_assignment(a);
  c.validate();
  return c;
}

}  // namespace moescope
