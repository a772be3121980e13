// test_util.h: shared helpers for the torch layers' unit tests (test device, finite-difference
// gradcheck); the torch-free helpers (tiny preset, source paths) are in test_paths.h.
#pragma once
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_paths.h"

namespace moescope::testing {

// The device of the numerics tests (tests/ops, tests/model): MOESCOPE_TEST_DEVICE=cuda runs them
// on the first GPU (scripts/gpu_check.sh); unset, empty or "cpu" keeps the CPU (CI). Asking for
// cuda where CUDA is not available fails every test that calls this (never a silent CPU run).
// Modules and inputs are still created on the CPU (same seeds, same values) and then moved.
inline torch::Device test_device() {
  const char* env = std::getenv("MOESCOPE_TEST_DEVICE");
  const std::string want = env ? env : "";
  if (want.empty() || want == "cpu") return torch::Device(torch::kCPU);
  if (want != "cuda") throw std::invalid_argument("MOESCOPE_TEST_DEVICE='" + want + "': must be cpu or cuda");
  if (!torch::cuda::is_available()) throw std::runtime_error("MOESCOPE_TEST_DEVICE=cuda but CUDA is not available");
  return torch::Device(torch::kCUDA, 0);
}
inline bool on_cuda() { return test_device().is_cuda(); }
// t on the test device / back on the CPU (for comparisons with host-built expectations).
inline at::Tensor dev(const at::Tensor& t) { return t.to(test_device()); }
inline at::Tensor cpu(const at::Tensor& t) { return t.to(torch::kCPU); }
// Record the test device and observed values (errors, tolerances) in the test's XML report.
inline void record_device() { ::testing::Test::RecordProperty("device", test_device().str()); }
inline void record_value(const std::string& key, double v) {
  ::testing::Test::RecordProperty(key, ::testing::PrintToString(v));
}

// Central finite differences of a scalar function against autograd, in double precision.
// Checks up to `max_entries` entries of each tensor in `inputs` (evenly spaced).
// Returns the worst |fd - autograd| / max(1, |fd|).
inline double gradcheck(const std::function<at::Tensor()>& f, const std::vector<at::Tensor>& inputs, double eps = 1e-6,
                        int64_t max_entries = 24) {
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
