// checkpoint.h: crash-safe checkpoints of a training run.
//
// A checkpoint is a directory (RUN_DIR/checkpoints/latest or .../best) holding
//   model.safetensors          weights under Hugging Face names (tensor_io.h), CRC-protected
//   trainer_state.safetensors  optimizer moments ("exp_avg/<param>", "exp_avg_sq/<param>"),
//                              router bias buffers ("router_bias/<layer>"), the CPU RNG state
//                              ("rng/cpu"), and in metadata "moescope.trainer_state" a JSON
//                              object {version, step, micro_index, ..., router_knobs} (TrainerState;
//                              router_knobs: one RouterKnobs object per MoE layer, in layer order,
//                              absent in checkpoints written before they were saved).
// Writing: both files go into a fresh sibling temp directory (each written + fsynced), then
// the old directory is renamed aside, the temp directory renamed into place, and the old one
// removed. A crash at any point leaves either the old or the new checkpoint complete; a load
// that finds only the renamed-aside copy uses it (and it is kept until a new one is in place).
// Truncated or corrupted files are refused by the safetensors CRCs with a message naming the
// file. Files that pass their CRCs but lie are refused too: every weight's dtype and shape must
// be the model's, every trainer-state field present and in range (step >= 0, micro_index >=
// step, best_step <= step, ...), each router bias buffer F32 [E], the optimizer moments F32
// and finite, the RNG state present.
#pragma once
#include <limits>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "model/transformer.h"
#include "train/adamw.h"

namespace moescope {

constexpr int kTrainerStateVersion = 1;

struct TrainerState {
  int64_t step = 0;         // optimizer steps completed
  int64_t micro_index = 0;  // data position: micro-batches consumed
  int64_t tokens_seen = 0;
  int64_t skipped_steps = 0;
  int64_t consecutive_nonfinite = 0;
  double best_val_loss = std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  double elapsed_s = 0;                // training wall time before this process
  bool eval_pending = false;           // the evaluation of `step` was interrupted by a signal: due first on resume
  bool router_knobs_restored = false;  // set by load_checkpoint: the checkpoint had router_knobs
  nlohmann::json to_json() const;
  static TrainerState from_json(const nlohmann::json& j, const std::string& where);
};

void save_checkpoint(const std::string& dir, Transformer& model, const AdamW* opt, const TrainerState& st,
                     const nlohmann::json& config);

// Resolves `dir` (or its renamed-aside copy after a crash); "" when neither exists.
std::string find_checkpoint(const std::string& dir);

// Loads weights, the routers' knobs when saved (and, with `opt`, the optimizer and RNG state).
// Returns the trainer state.
TrainerState load_checkpoint(const std::string& dir, Transformer& model, AdamW* opt);

}  // namespace moescope
