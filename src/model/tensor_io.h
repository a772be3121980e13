// tensor_io.h: LibTorch tensors <-> safetensors records, and model weights on disk.
// Weight names are the model's parameter/buffer names with the Hugging Face prefix:
// "model." + name, except the output head "lm_head.weight" (DeepSeek-V3 layout), e.g.
// model.layers.1.mlp.experts.3.gate_proj.weight, model.layers.1.mlp.gate.e_score_correction_bias.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>

#include <torch/torch.h>

#include "io/safetensors.h"
#include "model/param_names.h"  // hf_name

namespace moescope {

TensorRecord to_record(const std::string& name, const at::Tensor& t);
// "[2, 3]".
std::string shape_text(const std::vector<int64_t>& shape);
// Copies a record into a new CPU tensor (throws naming the tensor on unsupported dtypes).
at::Tensor from_record(const TensorRecord& r);

// Every parameter and buffer of `m` (on any device) under HF names.
std::vector<TensorRecord> model_records(torch::nn::Module& m);
void save_model_weights(torch::nn::Module& m, const std::string& path,
                        const std::map<std::string, std::string>& metadata);
// Strict load: every parameter and buffer must be present with the same dtype and shape, and the file
// may hold no other tensors. Values are copied in place (device/dtype of the module kept).
// `skip`: HF names the file does not hold as such (left untouched, e.g. factorised experts);
// `extra_ok`: names of further tensors the file may hold (e.g. compressed bases).
void load_model_weights(torch::nn::Module& m, const SafetensorsFile& f, const std::set<std::string>& skip = {},
                        const std::function<bool(const std::string&)>& extra_ok = nullptr);

}  // namespace moescope
