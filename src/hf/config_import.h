// config_import.h: a Hugging Face model directory's config.json -> moescope's ModelConfig
// (torch-free; the keys: config_keys.h, shared with the export, config_export.h).
//
// Architectures by model_type: deepseek_v3, deepseek_v2, qwen2_moe, qwen3_moe, mixtral, olmoe.
// Every key of config.json is either translated, checked against the one value moescope
// supports, or known not to change the forward pass (token ids, dtype, training-only losses,
// library bookkeeping). Anything else, an unknown model_type, or a supported key with a value
// that changes the maths in a way moescope does not implement, is refused with an error that
// names the key and the value. The translation follows transformers' modeling code (docs/hf.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/config.h"
#include "hf/config_keys.h"  // kMobeConfigKey, hf_model_types

namespace moescope {

struct HfModelConfig {
  std::string model_type;
  ModelConfig model;
  bool rope_interleave = false;  // DeepSeek: RoPE pairs (2i, 2i+1); rows are permuted on load
  bool fp8_blocks = false;       // quantization_config fp8 with 128x128 weight_scale_inv blocks
  int64_t fp8_block = 128;
  int64_t mtp_layers = 0;          // DeepSeek-V3 num_nextn_predict_layers (skipped on load)
  std::vector<std::string> notes;  // what was skipped or capped, for the user
  // config.json has a kMobeConfigKey entry: the routed experts' gate/up matrices are stored as
  // Mixture-of-Basis-Experts factors (compress/model_dir_compress.h) and must be composed at load.
  bool mobe = false;
};
// Throws std::runtime_error starting with `where` and naming the key.
HfModelConfig translate_hf_config(const nlohmann::json& cfg, const std::string& where);
// DIR/config.json.
HfModelConfig read_hf_config(const std::string& dir);
// True when DIR holds a config.json with a "model_type" (a Hugging Face model directory).
bool is_hf_model_dir(const std::string& dir);

}  // namespace moescope
