// rmsnorm_test.cpp: the fused CPU RMSNorm (fp32 and bf16: one autograd node, ops/rmsnorm.cpp)
// against the composite form in fp64 (x / sqrt(mean(x^2) + eps) * w through LibTorch's own
// autograd), forward and both gradients, on rows long and short enough to split over threads.
// Tolerances, relative to the largest |reference| entry: fp32 1e-5; bf16 2e-2 (inputs rounded
// to bf16 first, so both sides see the same values).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ops/rmsnorm.h"

using namespace moescope;

namespace {
double rel_err(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want).abs().max().item<double>() / std::max(want.abs().max().item<double>(), 1e-30);
}
}  // namespace

TEST(RmsNorm, FusedCpuMatchesFp64CompositeForwardAndBackward) {
  torch::manual_seed(5);
  for (auto [dt, tol] : {std::pair{at::kFloat, 1e-5}, std::pair{at::kBFloat16, 2e-2}})
    for (auto shape : {std::vector<int64_t>{3, 5, 24}, std::vector<int64_t>{700, 33}}) {
      SCOPED_TRACE(std::string(c10::toString(dt)) + " rows " + std::to_string(shape[0]));
      auto x64 = (torch::randn(shape, torch::kDouble) * 3).to(dt).to(at::kDouble).requires_grad_();
      auto w64 = (torch::rand({shape.back()}, torch::kDouble) + 0.5).to(dt).to(at::kDouble).requires_grad_();
      auto dy64 = torch::randn(shape, torch::kDouble).to(dt).to(at::kDouble);
      auto x = x64.detach().to(dt).requires_grad_(), w = w64.detach().to(at::kFloat).requires_grad_();
      auto y = rms_norm(x, w, 1e-6);        // the fused node (fp32 master weight, as the models hold it)
      auto y64 = rms_norm(x64, w64, 1e-6);  // fp64: the composite form
      ASSERT_EQ(y.scalar_type(), dt);
      ASSERT_NE(y.grad_fn(), nullptr);
      EXPECT_NE(y.grad_fn()->name().find("FusedRmsNorm"), std::string::npos) << y.grad_fn()->name();
      EXPECT_LT(rel_err(y, y64.detach()), tol);
      y.backward(dy64.to(dt));
      y64.backward(dy64);
      EXPECT_LT(rel_err(x.grad(), x64.grad()), tol);
      EXPECT_LT(rel_err(w.grad(), w64.grad()), tol);
      EXPECT_EQ(w.grad().scalar_type(), at::kFloat);
    }
}
