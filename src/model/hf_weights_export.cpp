// hf_weights_export.cpp: see hf_weights_export.h.
#include "model/hf_weights_export.h"

#include <vector>

#include "io/safetensors.h"
#include "model/hf_weights.h"
#include "model/tensor_io.h"

namespace moescope {

void save_hf_weights(Transformer& model, const ModelConfig& mc, const std::string& model_type, bool rope_interleave,
                     const std::string& path) {
  std::vector<TensorRecord> recs;
  torch::NoGradGuard ng;
  auto add = [&](const std::string& key, const at::Tensor& t) {
    const std::string name = hf_tensor_name(model_type, key);
    if (name.empty()) return;  // no such tensor in this architecture (a router bias it does not have)
    if (mc.tie_embeddings && name == "lm_head.weight") return;  // tied: transformers reads the embedding
    auto w = t.detach().to(torch::kCPU).to(torch::kFloat).contiguous().clone();
    if (key.find("e_score_correction_bias") != std::string::npos && !mc.moe.bias_balance) w.zero_();
    if (rope_interleave)
      for (auto [off, p] : hf_rope_rows(mc, key)) permute_rope_rows(w, off, p, false);
    recs.push_back(to_record(name, w));
  };
  for (auto& p : model->named_parameters()) add(p.key(), p.value());
  for (auto& b : model->named_buffers()) add(b.key(), b.value());
  save_safetensors(path, recs, {{"format", "pt"}});
}

}  // namespace moescope
