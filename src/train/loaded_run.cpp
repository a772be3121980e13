// loaded_run.cpp: see loaded_run.h.
#include "train/loaded_run.h"

#include <sstream>
#include <stdexcept>

#include "ops/runtime.h"
#include "train/checkpoint.h"
#include "train/dtype_choice.h"

namespace moescope {

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
  return compute_dtype(resolve_train_dtype(saved, device, quiet));
}

LoadedWeights load_checkpoint_weights(const std::string& run_dir, Transformer& model) {
  LoadedWeights w;
  w.source = find_checkpoint(best_dir(run_dir));
  if (w.source.empty()) w.source = find_checkpoint(latest_dir(run_dir));
  if (w.source.empty())
    throw std::runtime_error(run_dir + ": no checkpoint under checkpoints/best or checkpoints/latest");
  w.step = load_checkpoint(w.source, model, nullptr).step;
  return w;
}

LoadedRun load_run(const std::string& run_dir, const std::string& device, const WeightLoader& weights) {
  LoadedRun r;
  r.cfg = read_run_config(run_dir);
  r.tokenizer = load_tokenizer(run_dir);
  // A run fine-tuned from a model directory (train --init) keeps its config.json vocab_size,
  // often padded past the tokenizer's (trainer.cpp); only a larger tokenizer is inconsistent.
  if (r.tokenizer->vocab_size() > r.cfg.model.vocab_size)
    throw std::runtime_error(run_dir + ": tokenizer vocabulary (" + std::to_string(r.tokenizer->vocab_size()) +
                             ") is larger than model.vocab_size (" + std::to_string(r.cfg.model.vocab_size) + ")");
  r.model = Transformer(r.cfg.model);
  const LoadedWeights w = weights ? weights(r.model) : load_checkpoint_weights(run_dir, r.model);
  r.checkpoint = w.source;
  r.step = w.step;
  const std::string resolved = resolve_device(device);
  r.model->to(to_device(resolved));
  r.model->compute_dtype = run_compute_dtype(r.cfg.train.dtype, resolved);
  r.model->eval();
  return r;
}

}  // namespace moescope
