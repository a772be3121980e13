// hf_checkpoint.h: Hugging Face model directories in and out.
//
// A model directory holds config.json (run/hf_config.h), model.safetensors or shards listed in
// model.safetensors.index.json ("weight_map": tensor -> file), and tokenizer.json (with
// tokenizer_config.json) read by the Hugging Face tokenizer (data/hf_tokenizer.h).
// Weights are memory-mapped (io/mapped_safetensors.h) and copied into the model's fp32
// parameters, tensor by tensor: F32, BF16, F16, and F8_E4M3 with a "<name>_scale_inv" F32
// tensor of 128x128 blocks (w = fp8(w) * scale_inv[i/128, j/128], DeepSeek-V3).
// Names follow each architecture's published layout; moescope's own names are DeepSeek-V3's
// (model/param_names.h), with these differences:
//   mixtral   block_sparse_moe.gate / block_sparse_moe.experts.N.{w1,w3,w2} (gate, up, down)
//   qwen2_moe mlp.shared_expert.*, mlp.shared_expert_gate.weight
//   DeepSeek  rope_interleave: the RoPE rows of q_b_proj (q_proj) and kv_a_proj_with_mqa are
//             permuted [x0 x1 x2 x3 ..] -> [x0 x2 .. | x1 x3 ..] on load (and back on export),
//             which turns interleaved RoPE into moescope's rotate-half exactly.
// The router bias e_score_correction_bias exists only in deepseek_v3 files; other routers keep
// zeros (and balance off). A missing, extra, mis-shaped or wrongly typed tensor is an error
// naming it; the DeepSeek-V3 multi-token-prediction layers are skipped.
#pragma once
#include <string>

#include "run/hf_config.h"
#include "train/run_dir.h"

namespace moescope {

// The checkpoint name of a module parameter/buffer name for a model_type, or "" when that
// architecture has no such tensor (left at its initial value, e.g. a zero router bias).
std::string hf_tensor_name(const std::string& model_type, const std::string& module_name);

// Copies the directory's weights into `model` (built from hf.model). Returns the number of
// tensors read.
int64_t load_hf_weights(const std::string& dir, const HfModelConfig& hf, Transformer& model);

// config.json + tokenizer + weights, ready for eval/generate in fp32 (LoadedRun::cfg gets
// train.dtype fp32 and data.tokenizer hf:DIR). Notes (skipped layers, caps) go to `log`.
LoadedRun load_model_dir(const std::string& dir, const std::string& device, std::ostream& log);

// Writes `model` as a model_type deepseek_v3 directory: config.json, model.safetensors (F32)
// and, when `tokenizer_dir` holds a Hugging Face tokenizer.json, the tokenizer files.
// Throws std::invalid_argument naming a setting with no Hugging Face equivalent.
void export_hf_model(Transformer& model, const Config& cfg, const std::string& tokenizer_dir, const std::string& out_dir);

}  // namespace moescope
