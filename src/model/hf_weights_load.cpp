// hf_weights_load.cpp: see hf_weights_load.h.
#include "model/hf_weights_load.h"

#include <memory>
#include <regex>
#include <stdexcept>
#include <vector>

#include "core/str_edit.h"
#include "model/hf_weights.h"

namespace moescope {

int64_t load_hf_weights(const std::string& dir, const HfModelConfig& hf, Transformer& model, bool in_place,
                        const HfLoadOverlay* overlay) {
  if (hf.mobe && !overlay)
    throw std::runtime_error(
        dir + ": config.json has '" + kMobeConfigKey +
        "': its experts are stored as basis factors "
        "(moescope compress --model); load it with moescope eval/generate/scope --model, which compose them");
  auto shards = std::make_shared<HfShards>(dir);
  const HfShards& sh = *shards;
  std::set<std::string> used;
  torch::NoGradGuard ng;
  // transformers 5's fused expert layout (model/hf_weights.h): one layer's fused tensor at a time.
  std::string fused_name;
  at::Tensor fused;
  auto load_fused = [&](const HfFusedExpert& f, at::Tensor& dst, bool parameter) {
    const int64_t E = hf.model.moe.n_routed, h = hf.model.moe.expert_hidden, d = hf.model.d_model;
    if (fused_name != f.name) {
      fused = hf_read_float(sh, f.name, f.gate_up ? std::vector<int64_t>{E, 2 * h, d} : std::vector<int64_t>{E, d, h});
      if (!torch::isfinite(fused).all().item<bool>())
        throw std::runtime_error(sh.where(f.name) + ": tensor '" + f.name + "' holds NaN or Inf values");
      fused_name = f.name;
      used.insert(f.name);
    }
    at::Tensor src = fused[f.expert];
    if (f.gate_up) src = src.narrow(0, f.up ? h : 0, h);
    if (in_place && parameter) dst.set_data(src.clone());  // a copy: the rows are not one mapped tensor
    else dst.copy_(src);
  };
  auto load_one = [&](const std::string& key, at::Tensor& dst, bool parameter) {
    if (overlay && overlay->absent.count(key)) return;
    std::string name = hf_tensor_name(hf.model_type, key);
    if (name.empty()) return;
    if (!sh.has(name)) {
      HfFusedExpert f;
      if (hf_fused_expert(key, &f) && sh.has(f.name)) return load_fused(f, dst, parameter);
      const std::string alt = hf_fused_layout_name(hf.model_type, key);
      if (sh.has(alt)) name = alt;
      else throw std::runtime_error(dir + ": tensor '" + name + "' is missing (config.json implies it)");
    }
    used.insert(name);
    const std::vector<int64_t> want = dst.sizes().vec();
    const bool permuted = hf.rope_interleave && !hf_rope_rows(hf.model, key).empty();
    if (in_place && parameter && sh.at(name).entry->dtype != "F8_E4M3") {
      // Parameters stay in the file: F32 and BF16 entries become tensors over the mapped pages
      // (read-only; the mapping lives as long as any of them). F16 entries are copied out as
      // F32 (exact; CPU matmuls have no F16 kernels in LibTorch 1.13), RoPE-permuted ones in
      // their own dtype.
      const auto st = hf_float_dtype(sh, name, want);
      if (st == at::kHalf || permuted) {
        auto src = hf_read_float_as_stored(sh, name, want).to(st == at::kHalf ? at::kFloat : st);
        if (permuted)
          for (auto [off, p] : hf_rope_rows(hf.model, key)) permute_rope_rows(src, off, p, true);
        dst.set_data(src);
      } else {
        auto* data = const_cast<unsigned char*>(sh.at(name).data);
        dst.set_data(torch::from_blob(
            data, want, [shards](void*) {}, torch::TensorOptions().dtype(st)));
      }
      return;
    }
    at::Tensor src;
    if (sh.at(name).entry->dtype == "F8_E4M3") {
      if (!hf.fp8_blocks)
        throw std::runtime_error(sh.where(name) + ": tensor '" + name +
                                 "' is F8_E4M3 but config.json has no fp8 quantization_config");
      src = hf_read_fp8(sh, name, want, hf.fp8_block);
      used.insert(hf_scale_inv_name(name));
    } else {
      src = hf_read_float(sh, name, want);
    }
    if (!torch::isfinite(src).all().item<bool>())
      throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' holds NaN or Inf values");
    if (hf.rope_interleave)
      for (auto [off, p] : hf_rope_rows(hf.model, key)) permute_rope_rows(src, off, p, true);
    dst.copy_(src);
  };
  for (auto& p : model->named_parameters()) load_one(p.key(), p.value(), true);
  for (auto& b : model->named_buffers()) load_one(b.key(), b.value(), false);
  if (overlay && overlay->fill) overlay->fill(model);
  // Tensors the model has no place for: the MTP layers (skipped), a tied model's copy of the
  // head, RoPE frequency buffers some writers save; anything else is an error.
  const std::regex layer_re(R"(^model\.layers\.(\d+)\.)");
  for (const auto& [name, file] : sh.owner) {
    if (used.count(name)) continue;
    std::smatch m;
    if (hf.mtp_layers > 0 && std::regex_search(name, m, layer_re) && std::stoll(m[1]) >= hf.model.n_layers) continue;
    if (hf.model.tie_embeddings && name == "lm_head.weight") continue;
    if (ends_with(name, ".rotary_emb.inv_freq")) continue;
    throw std::runtime_error(file->path() + ": unexpected tensor '" + name + "' (config.json implies no such tensor)");
  }
  return static_cast<int64_t>(used.size());
}

}  // namespace moescope
