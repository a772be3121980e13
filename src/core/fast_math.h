// fast_math.h: float32 exp and log that a compiler vectorises (branch-free, no libm call), for the
// per-expert loops of routing/forward_pass (the Python watcher's CPU fast path spent ~90% of its
// time in std::exp / std::log, one call per token and expert) and the fused SwiGLU loops of
// ops/grouped_swiglu. Cephes' single-precision
// polynomials with a Cody-Waite split of ln 2:
//   fast_expf(x): x clamped to [-87, 88]; relative error < 2e-7 (tests/core/fast_math_test.cpp
//                 checks it against std::exp in double over [-87, 88]);
//   fast_logf(x): x > 0 and normal; absolute error < 2e-7 for x in [0.5, 2], relative < 2e-7
//                 elsewhere (same test, against std::log).
// Both are float32 arithmetic, the precision of the routers' own scores and of torch's float32
// kernels that the watcher's device path uses.
#pragma once
#include <cstdint>
#include <algorithm>
#include <cstring>

#include "core/vector_clones.h"

namespace moescope {

inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

inline int32_t float_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

MOESCOPE_ALWAYS_INLINE inline float fast_expf(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;               // round to nearest: 1.5 * 2^23 (|t| < 2^22)
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;  // x - n ln 2, in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);  // * 2^n (n in [-126, 127])
}

MOESCOPE_ALWAYS_INLINE inline float fast_logf(float x) {
  const int32_t bits = float_to_bits(x);
  const float e0 = static_cast<float>(((bits >> 23) & 0xff) - 126);  // x = m 2^e0, m in [0.5, 1)
  const float m0 = bits_to_float((bits & 0x807fffff) | 0x3f000000);
  // below sqrt(1/2), use 2m and e0 - 1 (so the argument is in [sqrt(1/2), sqrt(2)) - 1)
  const float low = m0 < 0.707106781186547524f ? 1.0f : 0.0f;
  const float e = e0 - low;
  const float m = m0 + low * m0 - 1.0f;
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  float y = p * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return (m + y) + 0.693359375f * e;
}

}  // namespace moescope
