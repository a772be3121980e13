// init.h: weight initialisation helpers shared by the model's modules.
#pragma once
#include <torch/torch.h>

namespace moescope {

// Inside a SkipInitScope (this thread), models are built for weights that are about to be loaded
// (a Hugging Face model directory, memory-mapped in place): make_linear and make_embedding
// allocate their weights without drawing them. Untouched memory costs no RSS, so building a
// model larger than RAM costs almost nothing until load_hf_weights replaces each weight.
class SkipInitScope {
 public:
  SkipInitScope();
  ~SkipInitScope();
  SkipInitScope(const SkipInitScope&) = delete;
  SkipInitScope& operator=(const SkipInitScope&) = delete;
  static bool active();

 private:
  bool prev_;
};

// Bias-free Linear(in -> out) with weights ~ N(0, std^2) (uninitialised under SkipInitScope).
torch::nn::Linear make_linear(int64_t in, int64_t out, double std);
// Embedding(n, dim) with weights ~ N(0, std^2) (uninitialised under SkipInitScope).
torch::nn::Embedding make_embedding(int64_t n, int64_t dim, double std);
// Std for residual-output projections (o_proj, down_proj): init_std / sqrt(2 * n_layers).
double residual_out_std(double init_std, int64_t n_layers);

// model.weight_init = torch_default: re-draws every parameter of `m` the way PyTorch's own
// modules initialise themselves, as in a plain PyTorch model: each 2-D weight W_OI (Linear
// layers, the router's gate) ~ U(-1/sqrt(I), 1/sqrt(I)) (kaiming_uniform with a = sqrt(5)), the
// token embedding (a parameter named "embed_tokens.weight") ~ N(0, 1); 1-D parameters (RMSNorm
// weights) are left as they are (ones). Buffers (the router bias) are untouched.
void apply_torch_default_init(torch::nn::Module& m);

}  // namespace moescope
