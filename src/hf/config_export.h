// config_export.h: the Hugging Face config.json that expresses a moescope model exactly
// (`moescope export`, train/hf_model_dir.h), torch-free.
//
// The architecture is the one of transformers (the pinned 5.25.0, python/requirements.lock)
// whose modeling code computes the same forward pass (docs/hf.md "Export"):
//   attn.type = mla, moe.score_func = sigmoid (or no MoE layer)          -> deepseek_v3
//   attn.type = mla, softmax, no router bias, norm_topk_prob = false     -> deepseek_v2
//   attn.type = mha, softmax, no router bias, routed_scaling_factor = 1:
//     attn.qk_norm = head, no shared expert                               -> qwen3_moe
//     attn.qk_norm = full (OLMoE), no shared expert, every layer MoE      -> olmoe
//     attn.qkv_bias = true, at most one gated shared expert               -> qwen2_moe
//     no q/k norm, no biases, no shared expert, norm_topk_prob, all MoE   -> mixtral
// Everything else is refused by a std::invalid_argument that names the moescope setting and
// what the closest architecture lacks, e.g. softmax routing with the selection-only router bias
// (moe.bias_balance = true): no transformers architecture has it together with MLA and a
// DeepSeek layer (docs/hf.md lists the ones checked). Training-only settings (balance losses,
// jitter, the bias update rate) do not change the forward pass and are not exported.
#pragma once
#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "core/config.h"

namespace moescope {

// config.json of `m` ("model_type" names the architecture). bos/eos < 0: null.
nlohmann::json export_hf_config(const ModelConfig& m, int64_t bos_id, int64_t eos_id);

}  // namespace moescope
