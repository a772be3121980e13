// rope_test.cpp: RoPE preserves norms and makes q.k depend only on the position offset.
// Double precision on the test device (tests/test_util.h); the tolerances hold on CPU and GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "ops/rope.h"

using namespace moescope;
using moescope::testing::dev;

TEST(Rope, PreservesNormAndIsRelative) {
  moescope::testing::record_device();
  torch::manual_seed(3);
  const int64_t R = 8;
  auto q = dev(torch::randn({1, 1, 1, R}, torch::kDouble)), k = dev(torch::randn({1, 1, 1, R}, torch::kDouble));
  auto rot = [&](const at::Tensor& x, int64_t pos) {
    at::Tensor c, s;
    rope_tables(pos, 1, R, 10000.0, true, &c, &s, &x);
    EXPECT_EQ(c.device(), x.device());
    return apply_rope(x, c, s);
  };
  EXPECT_NEAR(rot(q, 5).norm().item<double>(), q.norm().item<double>(), 1e-12);
  const double a = (rot(q, 7) * rot(k, 3)).sum().item<double>();
  const double b = (rot(q, 14) * rot(k, 10)).sum().item<double>();
  EXPECT_NEAR(a, b, 1e-12);
  EXPECT_NEAR((rot(q, 0) - q).abs().max().item<double>(), 0.0, 1e-15);  // position 0 is identity
}
