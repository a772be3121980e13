// loaded_run.h: a run loaded for use (eval, generate, scope, compress): config, tokenizer, weights
// on the chosen device in the run's compute dtype. The layout of a run directory and its
// config.json are run/run_dir.h; opening a run directory to train is train/run_start.h.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "data/tokenizer.h"
#include "model/transformer.h"
#include "run/run_dir.h"

namespace moescope {

struct LoadedRun {
  Config cfg;
  std::unique_ptr<Tokenizer> tokenizer;
  Transformer model{nullptr};
  std::string checkpoint;  // directory the weights came from
  int64_t step = 0;
};
// Where a run's weights come from, once its model is built (on the CPU, from config.json).
struct LoadedWeights {
  std::string source;  // the checkpoint directory or weights file
  int64_t step = 0;    // the training step the weights are from
};
using WeightLoader = std::function<LoadedWeights(Transformer& model)>;
// checkpoints/best, falling back to checkpoints/latest (train/checkpoint.h).
LoadedWeights load_checkpoint_weights(const std::string& run_dir, Transformer& model);

// Loads config, tokenizer (checked against model.vocab_size) and weights, then moves the model
// to `device` ("cpu", "cuda", "auto") in the run's compute dtype, in eval mode. `weights`
// defaults to load_checkpoint_weights; a compressed run passes its own (compress/compressed_run.h).
LoadedRun load_run(const std::string& run_dir, const std::string& device, const WeightLoader& weights = nullptr);

torch::Device to_device(const std::string& resolved);
// bf16 or fp32 -> the scalar type (kAuto throws: resolve "auto" first).
at::ScalarType compute_dtype(DType d);
// A saved run's train.dtype on `device` (resolved): as saved, or resolved now when "auto".
at::ScalarType run_compute_dtype(DType saved, const std::string& device);

}  // namespace moescope
