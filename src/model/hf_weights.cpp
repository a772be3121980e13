// hf_weights.cpp: see hf_weights.h.
#include "model/hf_weights.h"

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/str_edit.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "model/param_names.h"
#include "model/tensor_io.h"

namespace moescope {
namespace fs = std::filesystem;
namespace {

// E4M3 (fn: no infinities, S.1111.111 is NaN), exponent bias 7.
float fp8_e4m3_to_float(uint8_t b) {
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  float v;
  if (e == 15 && m == 7) v = std::nanf("");
  else if (e == 0) v = std::ldexp(static_cast<float>(m) / 8.0f, -6);
  else v = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
  return s ? -v : v;
}

}  // namespace

std::string hf_tensor_name(const std::string& model_type, const std::string& module_name) {
  std::string n = hf_name(module_name);
  if (ends_with(n, ".mlp.gate.e_score_correction_bias") && model_type != "deepseek_v3") return "";
  if (model_type == "mixtral") {
    if (replace_once(&n, ".mlp.gate.", ".block_sparse_moe.gate.")) return n;
    if (n.find(".mlp.experts.") != std::string::npos) {
      replace_once(&n, ".mlp.experts.", ".block_sparse_moe.experts.");
      if (!replace_once(&n, ".gate_proj.", ".w1.") && !replace_once(&n, ".up_proj.", ".w3."))
        replace_once(&n, ".down_proj.", ".w2.");
    }
  } else if (model_type == "qwen2_moe") {
    replace_once(&n, ".mlp.shared_experts.", ".mlp.shared_expert.");
  }
  return n;
}

bool hf_fused_expert(const std::string& module_name, HfFusedExpert* out) {
  static const std::regex re(R"(^(model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(gate|up|down)_proj\.weight$)");
  std::smatch m;
  const std::string n = hf_name(module_name);
  if (!std::regex_match(n, m, re)) return false;
  out->expert = std::stoll(m[2]);
  out->gate_up = m[3] != "down";
  out->up = m[3] == "up";
  out->name = m[1].str() + (out->gate_up ? ".gate_up_proj" : ".down_proj");
  return true;
}

std::string hf_fused_layout_name(const std::string& model_type, const std::string& module_name) {
  return model_type == "mixtral" ? hf_name(module_name) : hf_tensor_name(model_type, module_name);
}

std::string hf_scale_inv_name(const std::string& weight_name) {
  std::string s = weight_name;
  replace_once(&s, ".weight", ".weight_scale_inv");
  return s;
}

HfShards::HfShards(const std::string& dir) {
  const fs::path d(dir);
  const fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    const auto j = parse_json_guarded(read_file(index.string()), index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw std::runtime_error(index.string() + ": missing object \"weight_map\"");
    std::map<std::string, const MappedSafetensors*> by_file;
    std::map<std::string, std::string> want;  // tensor -> file
    for (const auto& it : j["weight_map"].items()) {
      if (!it.value().is_string())
        throw std::runtime_error(index.string() + ": weight_map['" + it.key() + "'] is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "..")
        throw std::runtime_error(index.string() + ": weight_map['" + it.key() + "'] = '" + f +
                                 "' is not a file name in the directory");
      want[it.key()] = f;
      if (!by_file.count(f)) {
        const fs::path p = d / f;
        if (!fs::exists(p))
          throw std::runtime_error(index.string() + ": shard '" + f + "' (holding '" + it.key() + "') is missing");
        files.push_back(std::make_unique<MappedSafetensors>(p.string()));
        by_file[f] = files.back().get();
      }
    }
    for (const auto& [name, f] : want) {
      if (!by_file[f]->has(name))
        throw std::runtime_error(index.string() + ": tensor '" + name + "' is listed in shard '" + f +
                                 "' but that file does not hold it");
      owner[name] = by_file[f];
    }
    for (const auto& f : files)
      for (const auto& e : f->entries())
        if (!owner.count(e.name))
          throw std::runtime_error(f->path() + ": tensor '" + e.name +
                                   "' is not listed in model.safetensors.index.json");
  } else {
    const fs::path p = d / "model.safetensors";
    if (!fs::exists(p)) throw std::runtime_error(dir + ": no model.safetensors or model.safetensors.index.json");
    files.push_back(std::make_unique<MappedSafetensors>(p.string()));
    for (const auto& e : files.back()->entries()) owner[e.name] = files.back().get();
  }
}

at::ScalarType hf_float_dtype(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want) {
  const auto v = sh.at(name);
  const std::string& dt = v.entry->dtype;
  at::ScalarType st;
  if (dt == "F32") st = at::kFloat;
  else if (dt == "BF16") st = at::kBFloat16;
  else if (dt == "F16") st = at::kHalf;
  else
    throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' has dtype " + dt +
                             "; supported: F32, BF16, F16 (and F8_E4M3 with weight_scale_inv blocks)");
  if (v.entry->shape != want)
    throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' has shape " + shape_text(v.entry->shape) +
                             ", config.json implies " + shape_text(want));
  return st;
}

at::Tensor hf_read_float_as_stored(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want) {
  const auto st = hf_float_dtype(sh, name, want);
  const auto v = sh.at(name);
  auto t = torch::empty(want, torch::TensorOptions().dtype(st));
  std::memcpy(t.data_ptr(), v.data, v.size());
  return t;
}

at::Tensor hf_read_float(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want) {
  return hf_read_float_as_stored(sh, name, want).to(at::kFloat);
}

at::Tensor hf_read_fp8(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want, int64_t block) {
  const auto v = sh.at(name);
  if (v.entry->shape != want || want.size() != 2)
    throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' has shape " + shape_text(v.entry->shape) +
                             ", config.json implies " + shape_text(want));
  const std::string sname = hf_scale_inv_name(name);
  if (!sh.has(sname)) throw std::runtime_error(sh.where(name) + ": FP8 tensor '" + name + "' has no '" + sname + "'");
  const int64_t R = want[0], C = want[1], bR = (R + block - 1) / block, bC = (C + block - 1) / block;
  auto scale = hf_read_float(sh, sname, {bR, bC});
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = fp8_e4m3_to_float(static_cast<uint8_t>(i));
    return t;
  }();
  auto out = torch::empty({R, C}, torch::kFloat);
  float* o = out.data_ptr<float>();
  const float* s = scale.data_ptr<float>();
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) o[i * C + j] = table[v.data[i * C + j]] * s[(i / block) * bC + j / block];
  return out;
}

std::vector<std::pair<int64_t, int64_t>> hf_rope_rows(const ModelConfig& c, const std::string& module_name) {
  const auto& a = c.attn;
  std::vector<std::pair<int64_t, int64_t>> out;
  if (ends_with(module_name, "self_attn.q_b_proj.weight") || ends_with(module_name, "self_attn.q_proj.weight")) {
    for (int64_t h = 0; h < a.n_heads; ++h)
      out.push_back({h * (a.qk_nope_head_dim + a.qk_rope_head_dim) + a.qk_nope_head_dim, a.qk_rope_head_dim});
  } else if (ends_with(module_name, "self_attn.kv_a_proj_with_mqa.weight")) {
    out.push_back({a.kv_lora_rank, a.qk_rope_head_dim});
  }
  return out;
}

void permute_rope_rows(at::Tensor& w, int64_t off, int64_t p, bool to_halves) {
  auto idx = torch::empty({p}, torch::kLong);
  auto* ix = idx.data_ptr<int64_t>();
  for (int64_t j = 0; j < p / 2; ++j) {
    if (to_halves) ix[j] = 2 * j, ix[p / 2 + j] = 2 * j + 1;
    else ix[2 * j] = j, ix[2 * j + 1] = p / 2 + j;
  }
  auto rows = w.narrow(0, off, p);
  rows.copy_(rows.index_select(0, idx));
}

}  // namespace moescope
