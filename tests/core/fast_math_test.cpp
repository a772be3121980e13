// fast_math_test.cpp: fast_expf / fast_logf against std::exp / std::log in double (the naive
// reference), over the whole range the routing loops use, with the tolerance fast_math.h states.
#include "core/fast_math.h"

#include <gtest/gtest.h>

#include <cmath>

namespace moescope {
namespace {

TEST(FastMath, ExpWithinTwoE7Relative) {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0007) {
    const float xf = static_cast<float>(x);
    const double want = std::exp(static_cast<double>(xf));
    worst = std::max(worst, std::abs(fast_expf(xf) - want) / want);
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_FLOAT_EQ(fast_expf(0.0f), 1.0f);
  EXPECT_EQ(fast_expf(-1000.0f), fast_expf(-87.0f));  // clamped, finite
  EXPECT_TRUE(std::isfinite(fast_expf(1000.0f)));
}

TEST(FastMath, LogWithinTwoE7) {
  double worst_abs = 0, worst_rel = 0;
  for (double x = 1e-30; x < 1e30; x *= 1.0003) {
    const float xf = static_cast<float>(x);
    if (!std::isnormal(xf)) continue;
    const double want = std::log(static_cast<double>(xf));
    const double err = std::abs(fast_logf(xf) - want);
    if (xf >= 0.5f && xf <= 2.0f) worst_abs = std::max(worst_abs, err);
    else worst_rel = std::max(worst_rel, err / std::abs(want));
  }
  EXPECT_LT(worst_abs, 2e-7);
  EXPECT_LT(worst_rel, 2e-7);
  EXPECT_EQ(fast_logf(1.0f), 0.0f);
}

}  // namespace
}  // namespace moescope
