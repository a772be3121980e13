// run_dir.h: the on-disk layout of a run, and loading a finished run for eval/generate.
//   RUN_DIR/config.json            the fully resolved config (JSON, FieldTable layout)
//   RUN_DIR/tokenizer.json (+ tokenizer.model for BPE)
//   RUN_DIR/metrics.jsonl          one JSON record per log interval / evaluation
//   RUN_DIR/checkpoints/latest/    newest checkpoint (checkpoint.h)
//   RUN_DIR/checkpoints/best/      best validation loss so far
#pragma once
#include <memory>
#include <string>

#include "core/config.h"
#include "io/tokenizer.h"
#include "model/transformer.h"

namespace moescope {

std::string config_path(const std::string& run_dir);
std::string latest_dir(const std::string& run_dir);
std::string best_dir(const std::string& run_dir);
std::string metrics_path(const std::string& run_dir);

void write_run_config(const std::string& run_dir, Config& cfg);
// Reads RUN_DIR/config.json (unknown keys are errors naming the key) and validates it.
Config read_run_config(const std::string& run_dir);

struct LoadedRun {
  Config cfg;
  std::unique_ptr<Tokenizer> tokenizer;
  Transformer model{nullptr};
  std::string checkpoint;  // directory the weights came from
  int64_t step = 0;
};
// Loads config, tokenizer and weights from checkpoints/best (falling back to latest).
LoadedRun load_run(const std::string& run_dir, const std::string& device);

torch::Device to_device(const std::string& resolved);
// "bf16" or "fp32" -> the scalar type (anything else throws: resolve "auto" first).
at::ScalarType compute_dtype(const std::string& name);
// A saved run's train.dtype on `device` (resolved): as saved, or resolved now when "auto".
at::ScalarType run_compute_dtype(const std::string& saved, const std::string& device);

}  // namespace moescope
