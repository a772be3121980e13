// param_names.h: the one spelling of the model's parameter names. Module names are what
// named_parameters() returns ("layers.1.mlp.gate.weight"); checkpoint and Hugging Face names
// add "model." except for the output head ("model.layers.1.mlp.experts.3.gate_proj.weight").
#pragma once
#include <cstdint>
#include <string>

namespace moescope {

// Module name -> checkpoint (Hugging Face DeepSeek-V3) name.
std::string hf_name(const std::string& module_name);
// "layers.{layer}.mlp.gate.weight": the router weight of transformer layer `layer`.
std::string router_weight_name(int64_t layer);
// True for any layer's router weight (module or checkpoint name).
bool is_router_weight(const std::string& name);
// "layers.{layer}.mlp.experts.{expert}.": every parameter of one routed expert starts so.
std::string expert_prefix(int64_t layer, int64_t expert);
// "model.layers.{layer}.mlp.experts.{expert}.{family}_proj.weight" (family: gate, up, down).
std::string expert_weight_hf_name(int64_t layer, int64_t expert, const std::string& family);

}  // namespace moescope
