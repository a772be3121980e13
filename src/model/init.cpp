// init.cpp: see init.h.
#include "model/init.h"

#include <cmath>

namespace moescope {

torch::nn::Linear make_linear(int64_t in, int64_t out, double std) {
  auto l = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  torch::NoGradGuard ng;
  l->weight.normal_(0.0, std);
  return l;
}

double residual_out_std(double init_std, int64_t n_layers) {
  return init_std / std::sqrt(2.0 * static_cast<double>(n_layers));
}

}  // namespace moescope
