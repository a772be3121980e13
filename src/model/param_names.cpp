// param_names.cpp: see param_names.h.
#include "model/param_names.h"
#include "core/str_edit.h"

namespace moescope {

std::string hf_name(const std::string& n) { return n.rfind("lm_head.", 0) == 0 ? n : "model." + n; }

std::string router_weight_name(int64_t layer) { return "layers." + std::to_string(layer) + ".mlp.gate.weight"; }

bool is_router_weight(const std::string& name) { return ends_with(name, ".mlp.gate.weight"); }

std::string expert_prefix(int64_t layer, int64_t expert) {
  return "layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(expert) + ".";
}

std::string expert_weight_hf_name(int64_t layer, int64_t expert, const std::string& family) {
  return hf_name(expert_prefix(layer, expert) + family + "_proj.weight");
}

}  // namespace moescope
