// hf_weights.h: the weights of a Hugging Face model directory, tensor by tensor: their names
// per architecture, the shards that hold them, their dtypes (FP8 included) and the RoPE row
// order of DeepSeek's MLA weights. Loading them into a model is model/hf_weights_load.h,
// writing a model's as Hugging Face ones model/hf_weights_export.h.
//
// A model directory holds model.safetensors, or shards listed in model.safetensors.index.json
// ("weight_map": tensor -> file); each file is memory-mapped once (io/mapped_safetensors.h) and
// checked against the index (a listed tensor missing from its shard, a shard tensor the index
// does not list, a missing shard, a file name outside the directory: errors naming them).
// Float tensors read as F32, BF16, F16, and F8_E4M3 with a "<name>_scale_inv" F32 tensor of
// block x block scales (w = fp8(w) * scale_inv[i/block, j/block], DeepSeek-V3).
// Used by the loader (model/hf_weights_load.h) and by `compress --model`, which streams one
// layer's experts at a time (compress/model_dir_compress.h).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "io/mapped_safetensors.h"

namespace moescope {

// The checkpoint name of a module parameter/buffer name for a model_type, or "" when that
// architecture has no such tensor (left at its initial value, e.g. a zero router bias).
//   mixtral   block_sparse_moe.gate / block_sparse_moe.experts.N.{w1,w3,w2} (gate, up, down)
//   qwen2_moe mlp.shared_expert.*, mlp.shared_expert_gate.weight
std::string hf_tensor_name(const std::string& model_type, const std::string& module_name);

// transformers 5's fused expert layout (what save_pretrained(save_original_format=False) writes;
// the default and the published checkpoints keep one tensor per expert): a layer's routed
// experts as "model.layers.L.mlp.experts.gate_up_proj" [E, 2h, d] (gate rows, then up rows) and
// "model.layers.L.mlp.experts.down_proj" [E, d, h], every other tensor under its transformers
// module name (Mixtral's router as mlp.gate.weight). For a moescope routed-expert parameter
// (model.layers.L.mlp.experts.N.{gate,up,down}_proj.weight): the fused tensor, N, and which rows.
struct HfFusedExpert {
  std::string name;  // the fused tensor
  int64_t expert = 0;
  bool gate_up = false;  // gate_up_proj (rows [0, h) gate, [h, 2h) up) or down_proj
  bool up = false;
};
bool hf_fused_expert(const std::string& module_name, HfFusedExpert* out);
// The name of a non-expert tensor in the fused layout (Mixtral: mlp.gate, not block_sparse_moe.gate).
std::string hf_fused_layout_name(const std::string& model_type, const std::string& module_name);

struct HfShards {
  std::vector<std::unique_ptr<MappedSafetensors>> files;
  std::map<std::string, const MappedSafetensors*> owner;  // tensor -> file

  explicit HfShards(const std::string& dir);  // throws std::runtime_error naming the problem
  bool has(const std::string& n) const { return owner.count(n) > 0; }
  MappedSafetensors::View at(const std::string& n) const { return owner.at(n)->at(n); }
  std::string where(const std::string& n) const { return owner.at(n)->path(); }
  // Drops the tensor's resident pages from this process (MappedSafetensors::release).
  void release(const std::string& n) const { owner.at(n)->release(at(n)); }
};

// The torch dtype of a float entry (F32, BF16, F16); throws naming the tensor otherwise, or
// when its shape is not `want`.
at::ScalarType hf_float_dtype(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want);
// A float tensor copied out of its entry, in its file dtype (F32, BF16, F16).
at::Tensor hf_read_float_as_stored(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want);
// The same as fp32.
at::Tensor hf_read_float(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want);
// An F8_E4M3 [R, C] weight with its "<name>_scale_inv" blocks, as fp32; throws naming a
// missing scale tensor or a wrong shape.
at::Tensor hf_read_fp8(const HfShards& sh, const std::string& name, const std::vector<int64_t>& want, int64_t block);
// "<name>_scale_inv" for "<...>.weight".
std::string hf_scale_inv_name(const std::string& weight_name);

// DeepSeek's rope_interleave: the RoPE rows of q_b_proj (q_proj) and kv_a_proj_with_mqa are
// stored interleaved [x0 x1 x2 x3 ..]; moescope's rotate-half wants [x0 x2 .. | x1 x3 ..].
// The RoPE row blocks of an MLA weight (module name) as (offset, width) pairs; none for any
// other weight.
std::vector<std::pair<int64_t, int64_t>> hf_rope_rows(const ModelConfig& c, const std::string& module_name);
// Rows [off, off + p) of a [rows, cols] weight, in place: interleaved pairs -> halves
// (to_halves, on load) or back (on export). An exact permutation.
void permute_rope_rows(at::Tensor& w, int64_t off, int64_t p, bool to_halves);

}  // namespace moescope
