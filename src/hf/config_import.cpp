// config_import.cpp: see config_import.h.
#include "hf/config_import.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "hf/config_json.h"

namespace moescope {
namespace {

using nlohmann::json;

using Reader = hf::ConfigReader;

// Every table key of `arch` (config_keys.h) into `m`, then the fixed keys checked.
void read_table(Reader& r, uint32_t arch, ModelConfig& m) {
  for (const HfFieldKey& k : hf_field_keys()) {
    if (!(k.archs & arch)) continue;
    std::visit(
        [&](auto* p) {
          using T = std::remove_pointer_t<decltype(p)>;
          if constexpr (std::is_same_v<T, bool>) *p = r.flag(k.key, k.def.value_or(0) != 0);
          else if constexpr (std::is_same_v<T, int64_t>)
            *p = r.i64(k.key, k.def ? std::optional<int64_t>(static_cast<int64_t>(*k.def)) : std::nullopt);
          else *p = r.num(k.key, k.def);
        },
        k.ref(m));
  }
  for (const HfFixedKey& k : hf_fixed_keys()) {
    if (!(k.archs & arch)) continue;
    if (k.value.is_null()) {
      if (r.has(k.key)) r.fail(k.key, k.why);
      continue;
    }
    bool same;
    if (k.value.is_boolean()) same = r.flag(k.key, k.value.get<bool>()) == k.value.get<bool>();
    else if (k.value.is_number_integer()) same = r.i64(k.key, k.value.get<int64_t>()) == k.value.get<int64_t>();
    else if (k.value.is_number()) same = r.num(k.key, k.value.get<double>()) == k.value.get<double>();
    else same = r.str(k.key, k.value.get<std::string>()) == k.value.get<std::string>();
    if (!same) r.fail(k.key, k.why);
  }
}

void read_rope(Reader& r, AttentionConfig& a, int64_t max_pos, HfModelConfig* out) {
  json rs;  // rope_theta: the key table
  if (r.has("rope_scaling")) rs = r.j["rope_scaling"];
  if (r.has("rope_parameters")) {  // transformers 5.x: theta and scaling in one object
    const json& p = r.j["rope_parameters"];
    if (!p.is_object()) r.fail("rope_parameters", "must be an object");
    if (p.contains("rope_theta")) {
      if (!p["rope_theta"].is_number()) r.fail("rope_parameters", "rope_theta must be a number");
      a.rope_theta = p["rope_theta"].get<double>();
    }
    const std::string t = p.value("rope_type", p.value("type", std::string("default")));
    if (t != "default") rs = p;
  }
  if (rs.is_null()) return;
  const std::string key =
      r.j.contains("rope_scaling") && !r.j["rope_scaling"].is_null() ? "rope_scaling" : "rope_parameters";
  if (!rs.is_object()) r.fail(key, "must be an object or null");
  const std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
  if (type == "default") return;
  if (type != "yarn") r.fail(key, "rope type '" + type + "' is not supported (default and yarn are)");
  static const std::set<std::string> known = {"type",      "rope_type", "factor", "original_max_position_embeddings",
                                              "beta_fast", "beta_slow", "mscale", "mscale_all_dim",
                                              "rope_theta"};
  for (auto& it : rs.items())
    if (!known.count(it.key())) r.fail(key, "yarn field '" + it.key() + "' is not supported");
  auto get = [&](const char* k, double def) {
    if (!rs.contains(k) || rs[k].is_null()) return def;
    if (!rs[k].is_number()) r.fail(key, std::string("yarn field '") + k + "' must be a number");
    return rs[k].get<double>();
  };
  a.rope_scaling = RopeScaling::kYarn;
  a.yarn_original_max_position =
      static_cast<int64_t>(get("original_max_position_embeddings", static_cast<double>(max_pos)));
  a.yarn_factor = get("factor", static_cast<double>(max_pos) / static_cast<double>(a.yarn_original_max_position));
  if (a.yarn_factor < 1) r.fail(key, "yarn factor below 1 is not supported");
  a.yarn_beta_fast = get("beta_fast", 32.0);
  a.yarn_beta_slow = get("beta_slow", 1.0);
  a.yarn_mscale = get("mscale", 0.0);
  a.yarn_mscale_all_dim = get("mscale_all_dim", 0.0);
  (void)out;
}

void read_common(Reader& r, uint32_t arch, ModelConfig& m, HfModelConfig* out) {
  read_table(r, arch, m);
  const int64_t max_pos = r.i64("max_position_embeddings", 4096);
  m.max_seq_len = std::min<int64_t>(max_pos, 32768);
  if (max_pos > m.max_seq_len)
    out->notes.push_back("max_position_embeddings = " + std::to_string(max_pos) +
                         ": moescope caps model.max_seq_len at " + std::to_string(m.max_seq_len) + " (KV cache size)");
  m.attn.n_kv_heads = r.i64("num_key_value_heads", m.attn.n_heads);
  read_rope(r, m.attn, max_pos, out);
  m.ffn = FfnKind::kMoe;
  m.moe.jitter = Jitter::kNone;
  m.moe.capacity_factor = 0;
  m.moe.aux_loss_alpha = 0;
  m.moe.seq_aux_loss_alpha = 0;
  m.moe.z_loss_beta = 0;
  m.moe.bias_balance = false;
}

void no_sliding_window(Reader& r) {
  r.has("sliding_window");  // unused: use_sliding_window is false (the key table)
  if (r.has("layer_types")) {
    for (const auto& t : r.j["layer_types"])
      if (!t.is_string() || t.get<std::string>() != "full_attention")
        r.fail("layer_types", "only full_attention layers are supported");
  }
}

void read_deepseek(Reader& r, HfModelConfig* out, bool v3) {
  ModelConfig& m = out->model;
  read_common(r, v3 ? kHfDeepseekV3 : kHfDeepseekV2, m, out);
  if (m.norm_eps != 1e-6)
    r.fail("rms_norm_eps",
           "DeepSeek's latent norms (q_a_layernorm, kv_a_layernorm) use 1e-6 in transformers; another "
           "rms_norm_eps would need two epsilons, which moescope does not have");
  auto& a = m.attn;
  a.type = AttnType::kMla;
  a.n_kv_heads = 0;
  r.used.insert("num_key_value_heads");
  r.has("head_dim");  // transformers sets it to qk_rope_head_dim
  if (r.has("qk_head_dim") && r.i64("qk_head_dim") != a.qk_nope_head_dim + a.qk_rope_head_dim)
    r.fail("qk_head_dim", "must be qk_nope_head_dim + qk_rope_head_dim (transformers 5 writes it so)");
  // Both scale the attention softmax by mscale(factor, mscale_all_dim)^2 under YaRN (transformers
  // 5's yarn_apply_mscale in DeepseekV2Attention and DeepseekV3Attention; DeepSeek's own code).
  a.yarn_softmax_mscale = true;
  out->rope_interleave = v3 ? r.flag("rope_interleave", true) : true;
  auto& e = m.moe;
  e.n_shared = r.i64("n_shared_experts", 0);  // fused: shared_hidden 0 = n_shared * expert_hidden
  e.shared_hidden = 0;
  e.first_k_dense = r.i64("first_k_dense_replace", 0);
  const std::string method = r.str("topk_method", v3 ? "noaux_tc" : "greedy");
  const std::string scoring = r.str("scoring_func", v3 ? "sigmoid" : "softmax");
  if (v3) {
    if (method != "noaux_tc") r.fail("topk_method", "deepseek_v3 supports noaux_tc only");
    if (scoring != "sigmoid") r.fail("scoring_func", "deepseek_v3 supports sigmoid only");
    e.score_func = ScoreFunc::kSigmoid;
    e.n_group = r.i64("n_group", 1);
    e.topk_group = r.i64("topk_group", 1);
    e.bias_balance = true;  // e_score_correction_bias: selection only
    out->mtp_layers = r.i64("num_nextn_predict_layers", 0);
    if (out->mtp_layers > 0)
      out->notes.push_back("the multi-token-prediction layer(s) model.layers." + std::to_string(m.n_layers) +
                           (out->mtp_layers > 1 ? "+" : "") + " are skipped (not used for next-token logits)");
    if (r.has("quantization_config")) {
      const json& q = r.j["quantization_config"];
      const std::string qm = q.is_object() ? q.value("quant_method", std::string()) : std::string();
      if (qm != "fp8") r.fail("quantization_config", "only quant_method fp8 is supported");
      if (q.contains("fmt") && q["fmt"] != "e4m3") r.fail("quantization_config", "only fmt e4m3 is supported");
      if (q.contains("weight_block_size") && q["weight_block_size"] != json::array({128, 128}))
        r.fail("quantization_config", "only weight_block_size [128, 128] is supported");
      out->fp8_blocks = true;
      out->notes.push_back("FP8 E4M3 weights are dequantised on load (128x128 weight_scale_inv blocks)");
    }
  } else {
    if (scoring != "softmax") r.fail("scoring_func", "deepseek_v2 supports softmax only");
    e.score_func = ScoreFunc::kSoftmax;
    if (method == "greedy") {
      e.n_group = 1, e.topk_group = 1;
      r.has("n_group"), r.has("topk_group");
    } else if (method == "group_limited_greedy") {
      e.n_group = r.i64("n_group");
      e.topk_group = r.i64("topk_group");
    } else {
      r.fail("topk_method", "deepseek_v2 supports greedy and group_limited_greedy");
    }
    e.norm_topk_prob = false;  // the key table refuses true
  }
}

void read_qwen_like(Reader& r, HfModelConfig* out, const std::string& type) {
  ModelConfig& m = out->model;
  read_common(r, hf_arch(type), m, out);
  auto& a = m.attn;
  auto& e = m.moe;
  a.type = AttnType::kMha;
  // n_heads 0 is refused by validate() below; no division by it here.
  a.head_dim = r.i64("head_dim", a.n_heads > 0 ? m.d_model / a.n_heads : 0);
  e.score_func = ScoreFunc::kSoftmax;
  e.n_group = 1, e.topk_group = 1;
  e.n_shared = 0;
  if (type == "mixtral") {
    m.dense_hidden = e.expert_hidden;
    e.norm_topk_prob = true;
  } else if (type == "olmoe") {
    m.dense_hidden = e.expert_hidden;
    a.qk_norm = QkNorm::kFull;
    if (r.has("clip_qkv") && a.clip_qkv <= 0) r.fail("clip_qkv", "must be > 0 or null");
  } else {  // qwen2_moe, qwen3_moe
    no_sliding_window(r);
    // Published Qwen configs say num_experts; transformers 5 saves qwen3_moe's as num_local_experts.
    const bool local = r.has("num_local_experts");
    e.n_routed = local && !r.has("num_experts") ? r.i64("num_local_experts") : r.i64("num_experts");
    if (local && r.i64("num_local_experts") != e.n_routed) r.fail("num_local_experts", "differs from num_experts");
    e.sparse_step = r.i64("decoder_sparse_step", 1);
    if (e.sparse_step < 1) r.fail("decoder_sparse_step", "must be >= 1");
    std::string dense;
    if (r.has("mlp_only_layers")) {
      if (!r.j["mlp_only_layers"].is_array()) r.fail("mlp_only_layers", "must be a list of layer indices");
      for (const auto& l : r.j["mlp_only_layers"]) {
        if (!l.is_number_integer() || l.get<int64_t>() < 0)
          r.fail("mlp_only_layers", "must be a list of layer indices");
        dense += (dense.empty() ? "" : ",") + std::to_string(l.get<int64_t>());
      }
    }
    e.dense_layers = dense;
    if (type == "qwen2_moe") {
      const int64_t sh = r.i64("shared_expert_intermediate_size", 0);
      if (sh > 0) {
        e.n_shared = 1;
        e.shared_hidden = sh;
        e.shared_expert_gate = true;
      }
    } else {
      a.qk_norm = QkNorm::kHead;
    }
  }
}

}  // namespace

HfModelConfig translate_hf_config(const json& j, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error(where + ": not a JSON object");
  if (!j.contains("model_type") || !j["model_type"].is_string())
    throw std::runtime_error(where + ": missing string \"model_type\"");
  HfModelConfig out;
  out.model_type = j["model_type"].get<std::string>();
  const auto& types = hf_model_types();
  if (std::find(types.begin(), types.end(), out.model_type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    throw std::runtime_error(where + ": model_type '" + printable_text(out.model_type, 80) +
                             "' is not supported (supported: " + list + ")");
  }
  Reader r{j, where, {}};
  r.used.insert("model_type");
  if (j.contains(kMobeConfigKey)) {  // compressed experts: read and checked by the compress layer
    r.used.insert(kMobeConfigKey);
    out.mobe = true;
  }
  if (out.model_type == "deepseek_v3" || out.model_type == "deepseek_v2")
    read_deepseek(r, &out, out.model_type == "deepseek_v3");
  else read_qwen_like(r, &out, out.model_type);
  // Keys read by one architecture but present in another's config are still refused below.
  for (const auto& it : j.items()) {
    if (r.used.count(it.key()) || hf_ignored_keys().count(it.key())) continue;
    throw std::runtime_error(where + ": config key '" + printable_text(it.key(), 80) +
                             "' is not supported for model_type " + out.model_type +
                             " (it may change the model's maths; moescope does not implement it)");
  }
  try {
    out.model.validate();
  } catch (const std::exception& ex) {
    throw std::runtime_error(where + ": translates to an invalid moescope model: " + ex.what());
  }
  return out;
}

HfModelConfig read_hf_config(const std::string& dir) {
  const std::string file = (std::filesystem::path(dir) / "config.json").string();
  if (!std::filesystem::exists(file))
    throw std::runtime_error(dir + ": no config.json (not a Hugging Face model directory)");
  return translate_hf_config(parse_json_guarded(read_file(file), file), file);
}

bool is_hf_model_dir(const std::string& dir) {
  std::error_code ec;
  const auto file = std::filesystem::path(dir) / "config.json";
  if (!std::filesystem::is_regular_file(file, ec)) return false;
  try {
    const json j = parse_json_guarded(read_file(file.string()), file.string());
    return j.is_object() && j.contains("model_type");
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace moescope
