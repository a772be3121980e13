// run_dir.cpp: see run_dir.h.
#include "train/run_dir.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "train/checkpoint.h"
#include "train/dtype_choice.h"

namespace moescope {
namespace fs = std::filesystem;

void write_run_config(const std::string& run_dir, Config& cfg) {
  nlohmann::json j = cfg.fields().to_json();
  j["moescope_config_version"] = 1;
  write_file_atomic(config_path(run_dir), j.dump(2) + "\n");
}

Config read_run_config(const std::string& run_dir) {
  const std::string p = config_path(run_dir);
  if (!fs::exists(p)) throw std::runtime_error(p + ": not found (is '" + run_dir + "' a moescope run directory?)");
  nlohmann::json j;
  const std::string text = read_file(p);
  if (!json_depth_error(text).empty()) throw std::runtime_error(p + ": not valid JSON: " + json_depth_error(text));
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(p + ": not valid JSON: " + e.what());
  }
  const auto version = j.is_object() ? j.find("moescope_config_version") : j.end();
  if (!j.is_object() || version == j.end() || *version != 1)  // a string, too, is an unknown version
    throw std::runtime_error(p + ": unknown config version (expected moescope_config_version 1)");
  j.erase("moescope_config_version");
  Config c;
  c.fields().from_json(j, p);
  c.validate();
  return c;
}

torch::Device to_device(const std::string& resolved) {
  return resolved == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

at::ScalarType compute_dtype(DType d) {
  if (d == DType::kBf16) return at::kBFloat16;
  if (d == DType::kFp32) return at::kFloat;
  throw std::invalid_argument("compute dtype 'auto': must be bf16 or fp32 (resolve \"auto\" first)");
}

at::ScalarType run_compute_dtype(DType saved, const std::string& device) {
  if (saved != DType::kAuto) return compute_dtype(saved);
  std::ostringstream quiet;  // runs written before the dtype was saved resolved
  return compute_dtype(parse_enum_or_throw<DType>("train.dtype", resolve_train_dtype(enum_name(saved), device, quiet)));
}

LoadedRun load_run(const std::string& run_dir, const std::string& device) {
  LoadedRun r;
  r.cfg = read_run_config(run_dir);
  r.tokenizer = load_tokenizer(run_dir);
  if (r.tokenizer->vocab_size() != r.cfg.model.vocab_size)
    throw std::runtime_error(run_dir + ": tokenizer vocabulary (" + std::to_string(r.tokenizer->vocab_size()) +
                             ") does not match model.vocab_size (" + std::to_string(r.cfg.model.vocab_size) + ")");
  r.model = Transformer(r.cfg.model);
  r.checkpoint = find_checkpoint(best_dir(run_dir));
  if (r.checkpoint.empty()) r.checkpoint = find_checkpoint(latest_dir(run_dir));
  if (r.checkpoint.empty()) throw std::runtime_error(run_dir + ": no checkpoint under checkpoints/best or checkpoints/latest");
  r.step = load_checkpoint(r.checkpoint, r.model, nullptr).step;
  const std::string resolved = resolve_device(device);
  r.model->to(to_device(resolved));
  r.model->compute_dtype = run_compute_dtype(r.cfg.train.dtype, resolved);
  r.model->eval();
  return r;
}

}  // namespace moescope
