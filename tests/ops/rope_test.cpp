// rope_test.cpp: RoPE preserves norms and makes q.k depend only on the position offset.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ops/rope.h"

using namespace moescope;

TEST(Rope, PreservesNormAndIsRelative) {
  torch::manual_seed(3);
  const int64_t R = 8;
  auto q = torch::randn({1, 1, 1, R}, torch::kDouble), k = torch::randn({1, 1, 1, R}, torch::kDouble);
  auto rot = [&](const at::Tensor& x, int64_t pos) {
    at::Tensor c, s;
    rope_tables(pos, 1, R, 10000.0, true, &c, &s);
    return apply_rope(x, c, s);
  };
  EXPECT_NEAR(rot(q, 5).norm().item<double>(), q.norm().item<double>(), 1e-12);
  const double a = (rot(q, 7) * rot(k, 3)).sum().item<double>();
  const double b = (rot(q, 14) * rot(k, 10)).sum().item<double>();
  EXPECT_NEAR(a, b, 1e-12);
  EXPECT_NEAR((rot(q, 0) - q).abs().max().item<double>(), 0.0, 1e-15);  // position 0 is identity
}
