// run_dir.h: a run's config.json, and loading a finished run for eval/generate (the layout
// of a run directory is run/run_layout.h).
#pragma once
#include <memory>
#include <string>

#include "core/config.h"
#include "io/tokenizer.h"
#include "model/transformer.h"
#include "run/run_layout.h"

namespace moescope {


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
// bf16 or fp32 -> the scalar type (kAuto throws: resolve "auto" first).
at::ScalarType compute_dtype(DType d);
// A saved run's train.dtype on `device` (resolved): as saved, or resolved now when "auto".
at::ScalarType run_compute_dtype(DType saved, const std::string& device);

}  // namespace moescope
