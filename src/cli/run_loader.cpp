// run_loader.cpp: see run_loader.h.
#include "cli/run_loader.h"

#include <filesystem>
#include <set>
#include <sstream>
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
  const std::set<std::string> factorised(names.begin(), names.end());
  std::set<std::string> used;
  {
    torch::NoGradGuard ng;
    auto load_one = [&](const std::string& key, at::Tensor& dst) {
      const std::string name = hf_name(key);
      if (factorised.count(name)) return;
      if (!f.has(name)) throw std::runtime_error(f.where + ": missing tensor '" + name + "'");
      auto src = from_record(f.at(name));
      if (src.sizes() != dst.sizes()) {
        std::ostringstream o;
        o << f.where << ": tensor '" << name << "' has shape " << src.sizes() << ", the model expects " << dst.sizes();
        throw std::runtime_error(o.str());
      }
      dst.copy_(src);
      used.insert(name);
    };
    for (auto& p : r.model->named_parameters()) load_one(p.key(), p.value());
    for (auto& b : r.model->named_buffers()) load_one(b.key(), b.value());
  }
  for (auto& t : f.tensors)
    if (!used.count(t.name) && !compress::is_basis_tensor(t.name))
      throw std::runtime_error(f.where + ": unexpected tensor '" + t.name + "' (not part of this model)");
  compress::compose_into(*r.model, groups);
  const auto marker = nlohmann::json::parse(read_file(compress::compressed_marker_path(run_dir)));
  r.step = marker.value("source_step", int64_t{0});
  r.model->to(to_device(resolve_device(device)));
  r.model->compute_dtype = compute_dtype(r.cfg.train.dtype);
  r.model->eval();
  return r;
}

LoadedRun load_any_run(const std::string& run_dir, const std::string& device) {
  return compress::is_compressed_run(run_dir) ? load_compressed_run(run_dir, device) : load_run(run_dir, device);
}

}  // namespace moescope
