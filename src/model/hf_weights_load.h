// hf_weights_load.h: a Hugging Face model directory's weights copied (or mapped) into a model
// built from its config.json (hf/config_import.h).
//
// Weights are memory-mapped (model/hf_weights.h HfShards) and copied into the model's fp32
// parameters, tensor by tensor: F32, BF16, F16, and F8_E4M3 with a "<name>_scale_inv" F32
// tensor of 128x128 blocks (w = fp8(w) * scale_inv[i/128, j/128], DeepSeek-V3).
// Names follow each architecture's published layout; moescope's own names are DeepSeek-V3's
// (model/param_names.h), with the differences hf_tensor_name knows (model/hf_weights.h), and
//   DeepSeek  rope_interleave: the RoPE rows of q_b_proj (q_proj) and kv_a_proj_with_mqa are
//             permuted [x0 x1 x2 x3 ..] -> [x0 x2 .. | x1 x3 ..] on load (and back on export,
//             model/hf_weights_export.h), which turns interleaved RoPE into moescope's
//             rotate-half exactly.
// The router bias e_score_correction_bias exists only in deepseek_v3 files; other routers keep
// zeros (and balance off). A missing, extra, mis-shaped or wrongly typed tensor is an error
// naming it; the DeepSeek-V3 multi-token-prediction layers are skipped.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "model/transformer.h"
#include "hf/config_import.h"

namespace moescope {

// Tensors a directory leaves out on purpose, and how they are filled (a MoBE-compressed model
// directory, compress/model_dir_compress.h): `absent` holds module names that are not read
// from the files; `fill` runs after loading, before the model moves to its device. Without an
// overlay, a directory whose config.json has the moescope_mobe entry is refused.
struct HfLoadOverlay {
  std::set<std::string> absent;
  std::function<void(Transformer&)> fill;
};

// Copies the directory's weights into `model` (built from hf.model), as fp32. Returns the number
// of tensors read. in_place: the parameters become the file's own F32/BF16 bytes instead
// (read-only tensors over the memory map, which stays open while any of them lives; F16 and
// FP8 tensors are converted to fp32 copies, RoPE-permuted ones copied); for inference only, without the
// NaN/Inf scan of every weight, which would read the whole file. Buffers are always copied.
int64_t load_hf_weights(const std::string& dir, const HfModelConfig& hf, Transformer& model, bool in_place = false,
                        const HfLoadOverlay* overlay = nullptr);

}  // namespace moescope
