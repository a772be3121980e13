// config_export.cpp: see config_export.h.
#include "hf/config_export.h"

#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "hf/config_keys.h"

namespace moescope {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& setting, const std::string& why) {
  throw std::invalid_argument("export: " + setting + ": " + why);
}

std::string num(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::vector<int64_t> dense_layers(const ModelConfig& m) {
  std::vector<int64_t> d;
  for (int64_t l = 0; l < m.n_layers; ++l)
    if (!m.is_moe_layer(l)) d.push_back(l);
  return d;
}

// The table keys of `type` (config_keys.h: the fields, and the fixed values transformers' config
// has), plus the bookkeeping keys every architecture shares.
json common(const ModelConfig& m, const std::string& type, const std::string& arch, int64_t bos, int64_t eos) {
  json c;
  const uint32_t bit = hf_arch(type);
  ModelConfig fields = m;  // the table's accessors take a mutable config
  for (const HfFieldKey& k : hf_field_keys()) {
    if (!(k.archs & bit)) continue;
    std::visit([&](auto* p) { c[k.key] = k.null_is_zero && *p == 0 ? json(nullptr) : json(*p); }, k.ref(fields));
  }
  for (const HfFixedKey& k : hf_fixed_keys())
    if ((k.archs & bit) && k.exported) c[k.key] = k.value;
  c["architectures"] = {arch};
  c["model_type"] = type;
  c["max_position_embeddings"] = m.max_seq_len;  // import caps it at 32768
  c["bos_token_id"] = bos >= 0 ? json(bos) : json(nullptr);
  c["eos_token_id"] = eos >= 0 ? json(eos) : json(nullptr);
  c["torch_dtype"] = "float32";
  c["initializer_range"] = 0.02;
  c["use_cache"] = true;
  return c;
}

// The fused shared-expert width as a multiple of expert_hidden (DeepSeek: one MLP of
// n_shared_experts x moe_intermediate_size, as moescope fuses them into one of shared_hidden).
int64_t deepseek_n_shared(const MoEConfig& e) {
  if (e.n_shared == 0 || e.shared_hidden == 0 || e.shared_hidden == e.n_shared * e.expert_hidden) return e.n_shared;
  if (e.shared_hidden % e.expert_hidden != 0)
    refuse("moe.shared_hidden = " + std::to_string(e.shared_hidden),
           "DeepSeek's shared experts are one MLP of n_shared_experts x moe_intermediate_size, so the shared expert's "
           "width must be a multiple of moe.expert_hidden (" +
               std::to_string(e.expert_hidden) + ")");
  return e.shared_hidden / e.expert_hidden;
}

json export_deepseek(const ModelConfig& m, int64_t bos, int64_t eos) {
  const auto& a = m.attn;
  const auto& e = m.moe;
  const auto dense = dense_layers(m);
  const int64_t first_k = static_cast<int64_t>(dense.size());
  for (int64_t l = 0; l < first_k; ++l)
    if (dense[l] != l)
      refuse(e.dense_layers.empty() ? "moe.sparse_step = " + std::to_string(e.sparse_step)
                                    : "moe.dense_layers = " + e.dense_layers,
             "DeepSeek (MLA) models have dense layers only before the MoE layers (first_k_dense_replace)");
  const bool moe = first_k < m.n_layers;
  // Which DeepSeek: deepseek_v3 routes with sigmoid (+ the selection-only e_score_correction_bias),
  // deepseek_v2 with softmax, no router bias and no top-k renormalisation (DeepseekV2TopkRouter).
  std::string type = "deepseek_v3";
  if (moe && e.score_func == ScoreFunc::kSoftmax) {
    type = "deepseek_v2";
    if (e.bias_balance)
      refuse(
          "moe.bias_balance = true with moe.score_func = softmax",
          "a selection-only router bias over softmax scores has no transformers architecture with MLA: deepseek_v2 "
          "(softmax) and mistral4 have no router bias (e_score_correction_bias), deepseek_v3 and the other MLA models "
          "with that bias (deepseek_v32, glm4_moe_lite, kimi_linear, ...) score with sigmoid, and longcat_flash "
          "(softmax + bias) has two attention sublayers and a shortcut MoE per layer and no renormalisation. Train "
          "with moe.score_func=sigmoid (exported as deepseek_v3) or moe.bias_balance=false");
    if (e.norm_topk_prob)
      refuse("moe.norm_topk_prob = true with moe.score_func = softmax",
             "transformers' deepseek_v2 never renormalises the top-k weights (and deepseek_v3 scores with sigmoid); "
             "set moe.norm_topk_prob=false, or moe.score_func=sigmoid");
  }
  if (moe && e.shared_expert_gate) refuse("moe.shared_expert_gate = true", "DeepSeek's shared experts are not gated");
  const int64_t n_shared = moe ? deepseek_n_shared(e) : 0;
  if (moe && type == "deepseek_v3" && e.n_group > 1 && e.n_routed / e.n_group < 2)
    refuse("moe.n_group = " + std::to_string(e.n_group),
           "groups of one expert (deepseek_v3 scores a group by its top two)");
  if (m.norm_eps != 1e-6)
    refuse("model.norm_eps = " + num(m.norm_eps),
           "DeepSeek's latent norms (q_a_layernorm, kv_a_layernorm) use 1e-6 in "
           "transformers, so every norm must");
  if (m.d_model % a.n_heads != 0)
    refuse("attn.n_heads = " + std::to_string(a.n_heads), "transformers' DeepSeek configs require model.d_model (" +
                                                              std::to_string(m.d_model) + ") to be a multiple of it");
  if (a.rope_scaling == RopeScaling::kYarn && a.yarn_mscale_all_dim > 0 && !a.yarn_softmax_mscale)
    refuse("attn.yarn_softmax_mscale = false",
           "transformers' DeepSeek attention always folds mscale(factor, mscale_all_dim)^2 into the softmax scale");
  json c = common(m, type, type == "deepseek_v3" ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM", bos, eos);
  c["num_key_value_heads"] = a.n_heads;
  c["n_shared_experts"] = n_shared;
  c["first_k_dense_replace"] = first_k;
  const bool groups = moe && e.n_group > 1;
  c["n_group"] = groups ? e.n_group : 1;
  c["topk_group"] = groups ? e.topk_group : 1;
  if (type == "deepseek_v3") {
    c["topk_method"] = "noaux_tc";
    c["scoring_func"] = "sigmoid";
    c["num_nextn_predict_layers"] = 0;
    c["rope_interleave"] = true;
  } else {
    c["topk_method"] = groups ? "group_limited_greedy" : "greedy";
    c["scoring_func"] = "softmax";
  }
  if (a.rope_scaling == RopeScaling::kYarn) {
    json rs = {{"type", "yarn"},
               {"factor", a.yarn_factor},
               {"original_max_position_embeddings", a.yarn_original_max_position},
               {"beta_fast", a.yarn_beta_fast},
               {"beta_slow", a.yarn_beta_slow}};
    if (a.yarn_mscale > 0) rs["mscale"] = a.yarn_mscale;
    if (a.yarn_mscale_all_dim > 0) rs["mscale_all_dim"] = a.yarn_mscale_all_dim;
    c["rope_scaling"] = rs;
  } else {
    c["rope_scaling"] = nullptr;
  }
  return c;
}

// GQA/MHA: the Qwen, Mixtral and OLMoE families (softmax over all experts, then top-k).
json export_mha(const ModelConfig& m, int64_t bos, int64_t eos) {
  const auto& a = m.attn;
  const auto& e = m.moe;
  const auto dense = dense_layers(m);
  const bool any_moe = static_cast<int64_t>(dense.size()) < m.n_layers;
  const int64_t shared_width =
      e.n_shared == 0 ? 0 : (e.shared_hidden > 0 ? e.shared_hidden : e.n_shared * e.expert_hidden);
  std::string type;
  if (a.qk_norm == QkNorm::kFull) type = "olmoe";
  else if (a.qk_norm == QkNorm::kHead) type = "qwen3_moe";
  else if (a.qkv_bias || e.n_shared > 0) type = "qwen2_moe";
  else type = "mixtral";
  const std::string which = " (attn.type = mha exports as " + type + ")";
  if (any_moe) {
    if (e.score_func != ScoreFunc::kSoftmax)
      refuse("moe.score_func = sigmoid with attn.type = mha",
             "the GQA MoE architectures moescope writes (qwen2_moe, qwen3_moe, mixtral, olmoe) route with softmax; "
             "use attn.type=mla (deepseek_v3)");
    if (e.bias_balance)
      refuse("moe.bias_balance = true with attn.type = mha",
             "qwen2_moe, qwen3_moe, mixtral and olmoe have no selection-only router bias (e_score_correction_bias); "
             "set moe.bias_balance=false");
    if (e.n_group > 1) refuse("moe.n_group = " + std::to_string(e.n_group), "group-limited routing" + which);
    if (e.routed_scaling_factor != 1.0)
      refuse("moe.routed_scaling_factor = " + num(e.routed_scaling_factor), "no routed scaling factor" + which);
  }
  if (a.rope_scaling != RopeScaling::kNone) refuse("attn.rope_scaling = yarn", "only plain RoPE" + which);
  if (a.qkv_bias && type != "qwen2_moe")
    refuse("attn.qkv_bias = true", "q/k/v biases exist only in qwen2_moe, which has no q/k norm" + which);
  if (a.clip_qkv > 0 && type != "olmoe")
    refuse("attn.clip_qkv = " + num(a.clip_qkv), "clamping q/k/v exists only in olmoe" + which);
  if (type == "qwen2_moe" && !a.qkv_bias)
    refuse("attn.qkv_bias = false with shared experts",
           "the only GQA architecture with a shared expert, qwen2_moe, has q/k/v biases");
  if (any_moe && e.n_shared > 0 && type != "qwen2_moe")
    refuse("moe.n_shared = " + std::to_string(e.n_shared), "no shared expert" + which);
  if (any_moe && type == "qwen2_moe" && e.n_shared > 0 && !e.shared_expert_gate)
    refuse("moe.shared_expert_gate = false", "qwen2_moe always gates its shared expert by sigmoid(x . w)");
  if ((type == "mixtral" || type == "olmoe") && !dense.empty())
    refuse(
        "dense layers (" +
            std::string(m.ffn == FfnKind::kDense ? "model.ffn = dense" : "moe.first_k_dense/sparse_step/dense_layers") +
            ")",
        "every layer is MoE" + which);
  if (type == "mixtral" && !e.norm_topk_prob)
    refuse("moe.norm_topk_prob = false", "mixtral always renormalises the top-k weights" + which);
  static const char* arch[][2] = {{"olmoe", "OlmoeForCausalLM"},
                                  {"qwen3_moe", "Qwen3MoeForCausalLM"},
                                  {"qwen2_moe", "Qwen2MoeForCausalLM"},
                                  {"mixtral", "MixtralForCausalLM"}};
  std::string cls;
  for (const auto& p : arch)
    if (type == p[0]) cls = p[1];
  json c = common(m, type, cls, bos, eos);
  const int64_t head_dim = a.head_dim > 0 ? a.head_dim : m.d_model / a.n_heads;
  c["num_key_value_heads"] = a.n_kv_heads > 0 ? a.n_kv_heads : a.n_heads;
  c["head_dim"] = head_dim;
  if (type == "qwen2_moe" || type == "qwen3_moe") {
    c["num_experts"] = e.n_routed;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = dense;
    if (type == "qwen2_moe") {
      c["shared_expert_intermediate_size"] = any_moe ? shared_width : 0;
    }
  }
  return c;
}

}  // namespace

json export_hf_config(const ModelConfig& m, int64_t bos_id, int64_t eos_id) {
  const auto& e = m.moe;
  const bool any_moe = static_cast<int64_t>(dense_layers(m).size()) < m.n_layers;
  if (any_moe && e.capacity_factor > 0)
    refuse(
        "moe.capacity_factor = " + num(e.capacity_factor),
        "moescope drops over-capacity assignments in every forward of more than one token, evaluation included; no "
        "transformers MoE architecture drops tokens (set moe.capacity_factor=0 and check the loss before exporting)");
  if (any_moe && e.bias_in_weights && e.bias_balance)
    refuse("moe.bias_in_weights = true",
           "the router bias also weighting the experts' outputs exists in no transformers architecture");
  return m.attn.type == AttnType::kMla ? export_deepseek(m, bos_id, eos_id) : export_mha(m, bos_id, eos_id);
}

}  // namespace moescope
