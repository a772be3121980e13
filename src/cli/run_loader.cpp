// run_loader.cpp: see run_loader.h.
#include "cli/run_loader.h"

#include <iostream>

#include "compress/compressed_run.h"
#include "train/hf_checkpoint.h"

namespace moescope {

LoadedRun load_any_run(const std::string& run_dir, const std::string& device) {
  if (is_hf_model_dir(run_dir)) return load_model_dir(run_dir, device, std::cerr);
  if (!compress::is_compressed_run(run_dir)) return load_run(run_dir, device);
  return load_run(run_dir, device, [&](Transformer& model) {
    const auto source = compress::load_compressed_weights(run_dir, *model);
    return LoadedWeights{compress::compressed_weights_path(run_dir), source.step};
  });
}

}  // namespace moescope
