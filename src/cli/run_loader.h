// run_loader.h: loading a run for eval/generate/scope whether it is a training run
// (train/run_dir.h) or a compressed one written by `moescope compress` (compress/compressed_run.h).
// It lives in the cli so that train never depends on compress.
#pragma once
#include <string>

#include "train/run_dir.h"

namespace moescope {

// A compressed run: config + tokenizer from OUT_DIR, every unfactorised weight from
// OUT_DIR/model.safetensors, and each factorised expert matrix composed once from its bank.
LoadedRun load_compressed_run(const std::string& run_dir, const std::string& device);
// load_compressed_run for a compressed run, else load_run.
LoadedRun load_any_run(const std::string& run_dir, const std::string& device);

}  // namespace moescope
