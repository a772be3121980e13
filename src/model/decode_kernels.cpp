// decode_kernels.cpp: see decode_kernels.h. The reductions use `#pragma omp simd reduction`
// (honoured with -fopenmp-simd, set for this file in CMakeLists.txt; no OpenMP runtime), so the
// compiler may reorder the sums into vector lanes: results differ from a sequential sum by
// rounding only (the decode test bounds the difference against the torch path).
#include "model/decode_kernels.h"

#include <algorithm>
#include <cmath>

#include "core/vector_clones.h"

namespace moescope::decode {

MOESCOPE_VECTOR_CLONES
void matvec(const float* W, const float* x, float* y, int64_t O, int64_t I) {
  int64_t o = 0;
  // Four rows at a time: each element of x is loaded once for four products.
  for (; o + 4 <= O; o += 4) {
    const float* w0 = W + o * I;
    const float* w1 = w0 + I;
    const float* w2 = w1 + I;
    const float* w3 = w2 + I;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
    for (int64_t i = 0; i < I; ++i) {
      s0 += w0[i] * x[i];
      s1 += w1[i] * x[i];
      s2 += w2[i] * x[i];
      s3 += w3[i] * x[i];
    }
    y[o] = s0;
    y[o + 1] = s1;
    y[o + 2] = s2;
    y[o + 3] = s3;
  }
  for (; o < O; ++o) {
    const float* w = W + o * I;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < I; ++i) s += w[i] * x[i];
    y[o] = s;
  }
}

MOESCOPE_VECTOR_CLONES
void matvec_t(const float* W, const float* x, float* y, int64_t O, int64_t I) {
  std::fill(y, y + I, 0.0f);
  for (int64_t o = 0; o < O; ++o) {
    const float a = x[o];
    const float* w = W + o * I;
#pragma omp simd
    for (int64_t i = 0; i < I; ++i) y[i] += a * w[i];
  }
}

MOESCOPE_VECTOR_CLONES
float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

MOESCOPE_VECTOR_CLONES
void axpy(float a, const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  float ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void rope(float* x, const float* c, const float* s, int64_t R) {
  const int64_t h = R / 2;
  for (int64_t i = 0; i < h; ++i) {
    const float x1 = x[i], x2 = x[i + h];
    x[i] = x1 * c[i] - x2 * s[i];
    x[i + h] = x2 * c[i] + x1 * s[i];
  }
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  float z = 0;
  for (int64_t i = 0; i < n; ++i) z += x[i] = std::exp(x[i] - mx);
  const float inv = 1.0f / z;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace moescope::decode
