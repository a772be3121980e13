// hf_checkpoint.h: Hugging Face model directories in and out.
//
// A model directory holds config.json (hf/config_import.h), model.safetensors or shards listed in
// model.safetensors.index.json ("weight_map": tensor -> file), and tokenizer.json (with
// tokenizer_config.json) read by the Hugging Face tokenizer (hf/tokenizer.h).
// Weights are memory-mapped (io/mapped_safetensors.h) and copied into the model's fp32
// parameters, tensor by tensor: F32, BF16, F16, and F8_E4M3 with a "<name>_scale_inv" F32
// tensor of 128x128 blocks (w = fp8(w) * scale_inv[i/128, j/128], DeepSeek-V3).
// Names follow each architecture's published layout; moescope's own names are DeepSeek-V3's
// (model/param_names.h), with the differences hf_tensor_name knows (model/hf_shards.h), and
//   DeepSeek  rope_interleave: the RoPE rows of q_b_proj (q_proj) and kv_a_proj_with_mqa are
//             permuted [x0 x1 x2 x3 ..] -> [x0 x2 .. | x1 x3 ..] on load (and back on export),
//             which turns interleaved RoPE into moescope's rotate-half exactly.
// The router bias e_score_correction_bias exists only in deepseek_v3 files; other routers keep
// zeros (and balance off). A missing, extra, mis-shaped or wrongly typed tensor is an error
// naming it; the DeepSeek-V3 multi-token-prediction layers are skipped.
#pragma once
#include <functional>
#include <set>
#include <string>

#include "model/hf_shards.h"  // hf_tensor_name

#include "hf/config_import.h"
#include "train/run_dir.h"

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

// How load_model_dir holds the weights (eval/generate --weights):
//   copy    fp32 parameters, copied out of the file (exact; needs 4 bytes per parameter);
//   mapped  the file's pages themselves (load_hf_weights in_place): a model larger than RAM
//           loads in seconds, and only the pages a forward reads become resident (page cache
//           the OS can drop again); CPU only;
//   auto    mapped on the CPU when the fp32 copy would exceed kHfMappedShareOfMemory of the
//           available memory, else copy.
enum class HfWeights { kAuto, kCopy, kMapped };
constexpr double kHfMappedShareOfMemory = 0.5;
// "auto", "copy", "mapped"; throws std::invalid_argument naming --weights otherwise.
HfWeights parse_hf_weights(const std::string& text);
// The auto rule above (device: resolved, "cpu" or "cuda"; available 0 = unknown -> copy).
HfWeights choose_hf_weights(HfWeights requested, const std::string& device, double fp32_bytes, double available_bytes);

// config.json + tokenizer + weights, ready for eval/generate (LoadedRun::cfg gets data.tokenizer
// hf:DIR and train.dtype fp32, or with mapped weights the activation dtype chosen for the CPU).
// Notes (skipped layers, caps, the weights mode) go to `log`.
LoadedRun load_model_dir(const std::string& dir, const std::string& device, std::ostream& log,
                         HfWeights weights = HfWeights::kCopy, const HfLoadOverlay* overlay = nullptr);

// Writes `model` as a Hugging Face directory of the architecture export_hf_config picks
// (hf/config_export.h): config.json, model.safetensors (F32, that architecture's tensor
// names; DeepSeek RoPE rows back in interleaved order) and, when `tokenizer_dir` holds a Hugging
// Face tokenizer.json, the tokenizer files (else moescope's tokenizer as moescope_tokenizer.json).
// Throws std::invalid_argument naming a setting no architecture expresses, before writing anything.
void export_hf_model(Transformer& model, const Config& cfg, const std::string& tokenizer_dir, const std::string& out_dir);

}  // namespace moescope
