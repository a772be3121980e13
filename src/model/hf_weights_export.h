// hf_weights_export.h: a model's weights written as a Hugging Face architecture's
// model.safetensors (`moescope export`; the directory around it, config.json and tokenizer,
// is train/hf_model_dir.h export_hf_model).
#pragma once
#include <string>

#include "core/config.h"
#include "model/transformer.h"

namespace moescope {

// Writes every parameter and buffer of `model` (built from `mc`) to `path` as one F32
// safetensors file under `model_type`'s tensor names (model/hf_weights.h hf_tensor_name):
// tensors the architecture has no name for are left out, as is lm_head.weight of a tied model
// (transformers reads the embedding); the router bias is written as zeros unless
// mc.moe.bias_balance; rope_interleave: DeepSeek's RoPE rows back in interleaved order.
void save_hf_weights(Transformer& model, const ModelConfig& mc, const std::string& model_type, bool rope_interleave,
                     const std::string& path);

}  // namespace moescope
