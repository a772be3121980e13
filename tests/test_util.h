// test_util.h: shared helpers for the unit tests (tiny preset, finite-difference gradcheck).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"

namespace moescope::testing {

inline std::string source_path(const std::string& rel) { return std::string(MOESCOPE_SOURCE_DIR) + "/" + rel; }

// The tiny preset every test starts from, with optional --set style overrides.
inline Config tiny_config(const std::vector<std::string>& sets = {}) {
  return load_config(source_path("configs/tiny.toml"), sets);
}

// Central finite differences of a scalar function against autograd, in double precision.
// Checks up to `max_entries` entries of each tensor in `inputs` (evenly spaced).
// Returns the worst |fd - autograd| / max(1, |fd|).
inline double gradcheck(const std::function<at::Tensor()>& f, const std::vector<at::Tensor>& inputs,
                        double eps = 1e-6, int64_t max_entries = 24) {
  for (auto& t : inputs) {
    EXPECT_EQ(t.scalar_type(), at::kDouble);
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  f().backward();
  double worst = 0.0;
  torch::NoGradGuard ng;
  for (auto& t : inputs) {
    auto flat = t.view({-1});
    auto g = t.grad().defined() ? t.grad().reshape({-1}).clone() : torch::zeros_like(flat);
    const int64_t n = flat.numel(), step = std::max<int64_t>(1, n / max_entries);
    for (int64_t i = 0; i < n; i += step) {
      const double orig = flat[i].item<double>();
      flat[i] = orig + eps;
      const double up = f().item<double>();
      flat[i] = orig - eps;
      const double dn = f().item<double>();
      flat[i] = orig;
      const double fd = (up - dn) / (2 * eps);
      const double err = std::abs(fd - g[i].item<double>()) / std::max(1.0, std::abs(fd));
      worst = std::max(worst, err);
    }
  }
  return worst;
}

}  // namespace moescope::testing
