// init.cpp: see init.h.
#include "model/init.h"
#include "core/str_edit.h"

#include <cmath>
#include <string>

namespace moescope {

namespace {
thread_local bool skip_init = false;
}  // namespace

SkipInitScope::SkipInitScope() : prev_(skip_init) { skip_init = true; }
SkipInitScope::~SkipInitScope() { skip_init = prev_; }
bool SkipInitScope::active() { return skip_init; }

torch::nn::Linear make_linear(int64_t in, int64_t out, double std) {
  torch::NoGradGuard ng;
  if (skip_init) {
    // Linear's constructor draws its weight (touching every page); build a 1x1 one and give it
    // an uninitialised [out, in] tensor instead.
    auto l = torch::nn::Linear(torch::nn::LinearOptions(1, 1).bias(false));
    l->options.in_features(in).out_features(out);
    l->weight.set_data(torch::empty({out, in}));
    return l;
  }
  auto l = torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  l->weight.normal_(0.0, std);
  return l;
}

torch::nn::Embedding make_embedding(int64_t n, int64_t dim, double std) {
  torch::NoGradGuard ng;
  if (skip_init) {  // as make_linear: a 1-row embedding given an uninitialised [n, dim] tensor
    auto e = torch::nn::Embedding(1, dim);
    e->options.num_embeddings(n);
    e->weight.set_data(torch::empty({n, dim}));
    return e;
  }
  auto e = torch::nn::Embedding(n, dim);
  e->weight.normal_(0.0, std);
  return e;
}

double residual_out_std(double init_std, int64_t n_layers) {
  return init_std / std::sqrt(2.0 * static_cast<double>(n_layers));
}

void apply_torch_default_init(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& item : m.named_parameters(/*recurse=*/true)) {
    auto& w = item.value();
    const std::string& name = item.key();
    const bool embedding = ends_with(name, "embed_tokens.weight");
    if (embedding) {
      w.normal_(0.0, 1.0);
    } else if (w.dim() == 2) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
      w.uniform_(-bound, bound);
    }
  }
}

}  // namespace moescope
