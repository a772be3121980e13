// config_keys.cpp: the key table of config_keys.h.
#include "hf/config_keys.h"

#include <algorithm>

namespace moescope {
namespace {

ModelConfig& section_model(ModelConfig& m) { return m; }
AttentionConfig& section_attn(ModelConfig& m) { return m.attn; }
MoEConfig& section_moe(ModelConfig& m) { return m.moe; }

}  // namespace

// The HF key, moescope's section and field (named once: the accessor and the name come from the
// same tokens), the architectures, the import default, null <-> 0.
#define MOESCOPE_HF_FIELD(hf_key, section, member, archs, def, null_is_zero)                                        \
  HfFieldKey {                                                                                                      \
    hf_key, #section "." #member, archs, [](ModelConfig& m) -> HfFieldRef { return &section_##section(m).member; }, \
        def, null_is_zero                                                                                           \
  }

const std::vector<HfFieldKey>& hf_field_keys() {
  const std::optional<double> required;
  static const std::vector<HfFieldKey> k = {
      MOESCOPE_HF_FIELD("vocab_size", model, vocab_size, kHfAll, required, false),
      MOESCOPE_HF_FIELD("hidden_size", model, d_model, kHfAll, required, false),
      MOESCOPE_HF_FIELD("num_hidden_layers", model, n_layers, kHfAll, required, false),
      MOESCOPE_HF_FIELD("rms_norm_eps", model, norm_eps, kHfAll, 1e-6, false),
      MOESCOPE_HF_FIELD("tie_word_embeddings", model, tie_embeddings, kHfAll, 0, false),
      MOESCOPE_HF_FIELD("num_attention_heads", attn, n_heads, kHfAll, required, false),
      MOESCOPE_HF_FIELD("rope_theta", attn, rope_theta, kHfAll, 10000.0, false),  // rope_parameters may override it
      MOESCOPE_HF_FIELD("num_experts_per_tok", moe, top_k, kHfAll, required, false),
      // DeepSeek (MLA).
      MOESCOPE_HF_FIELD("q_lora_rank", attn, q_lora_rank, kHfDeepseek, 0, true),
      MOESCOPE_HF_FIELD("kv_lora_rank", attn, kv_lora_rank, kHfDeepseek, required, false),
      MOESCOPE_HF_FIELD("qk_nope_head_dim", attn, qk_nope_head_dim, kHfDeepseek, required, false),
      MOESCOPE_HF_FIELD("qk_rope_head_dim", attn, qk_rope_head_dim, kHfDeepseek, required, false),
      MOESCOPE_HF_FIELD("v_head_dim", attn, v_head_dim, kHfDeepseek, required, false),
      MOESCOPE_HF_FIELD("intermediate_size", model, dense_hidden, kHfDeepseek | kHfQwen, required, false),
      MOESCOPE_HF_FIELD("n_routed_experts", moe, n_routed, kHfDeepseek, required, false),
      MOESCOPE_HF_FIELD("moe_intermediate_size", moe, expert_hidden, kHfDeepseek | kHfQwen, required, false),
      MOESCOPE_HF_FIELD("routed_scaling_factor", moe, routed_scaling_factor, kHfDeepseek, 1.0, false),
      MOESCOPE_HF_FIELD("norm_topk_prob", moe, norm_topk_prob, kHfDeepseekV3, 1, false),
      // Mixtral and OLMoE: intermediate_size is the experts' width (every layer is MoE).
      MOESCOPE_HF_FIELD("intermediate_size", moe, expert_hidden, kHfMixtral | kHfOlmoe, required, false),
      MOESCOPE_HF_FIELD("num_local_experts", moe, n_routed, kHfMixtral, required, false),
      MOESCOPE_HF_FIELD("num_experts", moe, n_routed, kHfOlmoe, required, false),  // Qwen: also num_local_experts
      MOESCOPE_HF_FIELD("norm_topk_prob", moe, norm_topk_prob, kHfOlmoe | kHfQwen, 0, false),
      MOESCOPE_HF_FIELD("clip_qkv", attn, clip_qkv, kHfOlmoe, 0, true),
      MOESCOPE_HF_FIELD("qkv_bias", attn, qkv_bias, kHfQwen2Moe, 1, false),
  };
  return k;
}

#undef MOESCOPE_HF_FIELD

const std::vector<HfFixedKey>& hf_fixed_keys() {
  using nlohmann::json;
  static const std::vector<HfFixedKey> k = {
      {"hidden_act", kHfAll, "silu", "only silu (SwiGLU) is supported", true},
      {"pretraining_tp", kHfAll, 1, "only 1 is supported", false},
      {"attention_bias", kHfAll, false, "biases on every attention projection are not supported", true},
      {"mlp_bias", kHfAll, false, "MLP biases are not supported", false},
      {"partial_rotary_factor", kHfAll, 1.0, "only 1 is supported", false},
      {"moe_layer_freq", kHfDeepseek, 1, "only 1 is supported (transformers ignores it)", true},
      // transformers' DeepseekV2Moe never renormalises and always scales by routed_scaling_factor.
      {"norm_topk_prob", kHfDeepseekV2, false,
       "true is ignored by transformers' deepseek_v2 but honoured by DeepSeek's own code; moescope refuses the "
       "ambiguity",
       true},
      {"sliding_window", kHfMixtral, json(nullptr), "sliding-window attention is not supported (null is)", true},
      {"use_sliding_window", kHfQwen, false, "sliding-window attention is not supported", true},
  };
  return k;
}

const std::set<std::string>& hf_ignored_keys() {
  static const std::set<std::string> k = {"architectures",
                                          "auto_map",
                                          "model_type",
                                          "torch_dtype",
                                          "dtype",
                                          "transformers_version",
                                          "_name_or_path",
                                          "bos_token_id",
                                          "eos_token_id",
                                          "pad_token_id",
                                          "use_cache",
                                          "initializer_range",
                                          "attention_dropout",
                                          "output_router_logits",
                                          "router_aux_loss_coef",
                                          "router_jitter_noise",
                                          "aux_loss_alpha",
                                          "seq_aux",
                                          "ep_size",
                                          "return_dict",
                                          "output_attentions",
                                          "output_hidden_states",
                                          "max_window_layers",
                                          "is_decoder",
                                          "use_return_dict",
                                          "tokenizer_class",
                                          "chat_template",
                                          "keys_to_ignore_at_inference"};
  return k;
}

const std::vector<std::string>& hf_model_types() {
  static const std::vector<std::string> t = {"deepseek_v3", "deepseek_v2", "qwen2_moe",
                                             "qwen3_moe",   "mixtral",     "olmoe"};
  return t;
}

uint32_t hf_arch(const std::string& model_type) {
  const auto& t = hf_model_types();
  const auto it = std::find(t.begin(), t.end(), model_type);
  return it == t.end() ? 0u : 1u << (it - t.begin());
}

}  // namespace moescope
