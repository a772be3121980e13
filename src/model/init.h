// init.h: weight initialisation helpers shared by the model's modules.
#pragma once
#include <torch/torch.h>

namespace moescope {

// Bias-free Linear(in -> out) with weights ~ N(0, std^2).
torch::nn::Linear make_linear(int64_t in, int64_t out, double std);
// Std for residual-output projections (o_proj, down_proj): init_std / sqrt(2 * n_layers).
double residual_out_std(double init_std, int64_t n_layers);

}  // namespace moescope
