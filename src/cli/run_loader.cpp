// run_loader.cpp: see run_loader.h.
#include "cli/run_loader.h"

#include <filesystem>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "compress/compressed_run.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "train/tensor_io.h"

namespace moescope {
namespace fs = std::filesystem;

LoadedRun load_compressed_run(const std::string& run_dir, const std::string& device) {
  compress::check_compressed_marker(run_dir);
  LoadedRun r;
  r.cfg = read_run_config(run_dir);
  r.tokenizer = load_tokenizer(run_dir);
  if (r.tokenizer->vocab_size() != r.cfg.model.vocab_size)
    throw std::runtime_error(run_dir + ": tokenizer vocabulary does not match model.vocab_size");
  r.model = Transformer(r.cfg.model);
  r.checkpoint = (fs::path(run_dir) / "model.safetensors").string();
  const SafetensorsFile f = load_safetensors(r.checkpoint);
  const auto groups = compress::read_basis_groups(f);
  const auto names = compress::factorised_names(groups);
  load_model_weights(*r.model, f, std::set<std::string>(names.begin(), names.end()), compress::is_basis_tensor);
  compress::compose_into(*r.model, groups);
  const auto marker = nlohmann::json::parse(read_file(compress::compressed_marker_path(run_dir)));
  r.step = marker.value("source_step", int64_t{0});
  const std::string resolved = resolve_device(device);
  r.model->to(to_device(resolved));
  r.model->compute_dtype = run_compute_dtype(r.cfg.train.dtype, resolved);
  r.model->eval();
  return r;
}

LoadedRun load_any_run(const std::string& run_dir, const std::string& device) {
  return compress::is_compressed_run(run_dir) ? load_compressed_run(run_dir, device) : load_run(run_dir, device);
}

}  // namespace moescope
