// hf_model_dir.h: a Hugging Face model directory as a whole, in and out: loaded for use
// (eval, generate, scope, compress, train --init) with the --weights policy, and written from a
// moescope model (`moescope export`).
//
// A model directory holds config.json (hf/config_import.h), model.safetensors or shards listed in
// model.safetensors.index.json, whose tensors model/hf_weights.h names and reads and
// model/hf_weights_load.h copies or maps into the model, and tokenizer.json (with
// tokenizer_config.json) read by the Hugging Face tokenizer (hf/tokenizer.h).
#pragma once
#include <ostream>
#include <string>

#include "core/config.h"
#include "model/hf_weights_load.h"  // HfLoadOverlay
#include "hf/config_import.h"
#include "train/loaded_run.h"

namespace moescope {

// How load_model_dir holds the weights (eval/generate --weights):
//   copy    fp32 parameters, copied out of the file (exact; needs 4 bytes per parameter);
//   mapped  the file's pages themselves (model/hf_weights_load.h load_hf_weights in_place): a model larger than RAM
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
// (hf/config_export.h): config.json, model.safetensors (model/hf_weights_export.h: F32,
// that architecture's tensor names; DeepSeek RoPE rows back in interleaved order) and, when `tokenizer_dir` holds a
// Hugging Face tokenizer.json, the tokenizer files (else moescope's tokenizer as moescope_tokenizer.json). Throws
// std::invalid_argument naming a setting no architecture expresses, before writing anything.
void export_hf_model(Transformer& model, const Config& cfg, const std::string& tokenizer_dir,
                     const std::string& out_dir);

}  // namespace moescope
