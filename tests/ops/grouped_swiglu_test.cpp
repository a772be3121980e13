// grouped_swiglu_test.cpp: the fused CPU passes of grouped_swiglu (fp32 and bf16; forward
// h = silu(g)*u*w, backward dg, du, dw and h*w in one pass, ops/grouped_swiglu.cpp) and the
// dense swiglu that runs as one block of it, against the same ops in fp64 (LibTorch's own
// silu/mul ops, which tests/model's finite-difference checks cover): output and the gradients
// of x, the gate weights w and every weight matrix. Includes an empty expert block.
// Tolerances, relative to each reference's largest |entry|: fp32 1e-5, bf16 3e-2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ops/grouped_swiglu.h"
#include "ops/swiglu.h"

using namespace moescope;

namespace {
double rel_err(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want).abs().max().item<double>() / std::max(want.abs().max().item<double>(), 1e-30);
}
// fp64 tensor with values representable in dt, requiring grad.
at::Tensor leaf(std::vector<int64_t> shape, at::ScalarType dt, double scale) {
  return (torch::randn(shape, torch::kDouble) * scale).to(dt).to(at::kDouble).requires_grad_();
}
at::Tensor copy_as(const at::Tensor& t, at::ScalarType dt) { return t.detach().to(dt).requires_grad_(); }
}  // namespace

TEST(GroupedSwiGLU, FusedCpuPassesMatchFp64ForwardAndBackward) {
  torch::manual_seed(9);
  const std::vector<int64_t> sizes = {37, 0, 5, 64};
  const int64_t A = 106, D = 24, F = 40;
  for (auto [dt, tol] : {std::pair{at::kFloat, 1e-5}, std::pair{at::kBFloat16, 3e-2}}) {
    SCOPED_TRACE(c10::toString(dt));
    auto x64 = leaf({A, D}, dt, 2.0), w64 = leaf({A}, dt, 1.0);
    std::vector<at::Tensor> g64, u64, d64, g, u, d;
    for (size_t e = 0; e < sizes.size(); ++e) {
      g64.push_back(leaf({F, D}, dt, 0.3)), u64.push_back(leaf({F, D}, dt, 0.3)), d64.push_back(leaf({D, F}, dt, 0.3));
      // fp32 masters, as the models hold them (cast to bf16 inside for bf16 compute)
      g.push_back(copy_as(g64.back(), at::kFloat)), u.push_back(copy_as(u64.back(), at::kFloat)),
          d.push_back(copy_as(d64.back(), at::kFloat));
    }
    auto x = copy_as(x64, dt), w = copy_as(w64, dt);
    auto y = grouped_swiglu(x, w, sizes, g, u, d);
    auto y64 = grouped_swiglu(x64, w64, sizes, g64, u64, d64);
    EXPECT_LT(rel_err(y, y64.detach()), tol);
    auto dy64 = torch::randn({A, D}, torch::kDouble).to(dt).to(at::kDouble);
    y.backward(dy64.to(dt));
    y64.backward(dy64);
    EXPECT_LT(rel_err(x.grad(), x64.grad()), tol);
    EXPECT_LT(rel_err(w.grad(), w64.grad()), tol);
    for (size_t e = 0; e < sizes.size(); ++e) {
      SCOPED_TRACE("expert " + std::to_string(e));
      if (sizes[e] == 0) {
        EXPECT_EQ(g[e].grad().abs().max().item<double>(), 0.0);
        continue;
      }
      EXPECT_LT(rel_err(g[e].grad(), g64[e].grad()), tol);
      EXPECT_LT(rel_err(u[e].grad(), u64[e].grad()), tol);
      EXPECT_LT(rel_err(d[e].grad(), d64[e].grad()), tol);
    }
  }
}

TEST(SwiGLU, DenseAsOneGroupedBlockMatchesFp64) {
  torch::manual_seed(10);
  for (auto [dt, tol] : {std::pair{at::kFloat, 1e-5}, std::pair{at::kBFloat16, 3e-2}}) {
    SCOPED_TRACE(c10::toString(dt));
    auto x64 = leaf({3, 7, 16}, dt, 1.5), g64 = leaf({20, 16}, dt, 0.3), u64 = leaf({20, 16}, dt, 0.3),
         d64 = leaf({16, 20}, dt, 0.3);
    auto x = copy_as(x64, dt), g = copy_as(g64, at::kFloat), u = copy_as(u64, at::kFloat), d = copy_as(d64, at::kFloat);
    auto y = swiglu(x, g, u, d), y64 = swiglu(x64, g64, u64, d64);
    ASSERT_EQ(y.sizes(), y64.sizes());
    EXPECT_LT(rel_err(y, y64.detach()), tol);
    auto dy64 = torch::randn(y64.sizes(), torch::kDouble).to(dt).to(at::kDouble);
    y.backward(dy64.to(dt));
    y64.backward(dy64);
    EXPECT_LT(rel_err(x.grad(), x64.grad()), tol);
    EXPECT_LT(rel_err(g.grad(), g64.grad()), tol);
    EXPECT_LT(rel_err(u.grad(), u64.grad()), tol);
    EXPECT_LT(rel_err(d.grad(), d64.grad()), tol);
  }
}
