// rope.cpp: see rope.h.
#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include <torch/torch.h>

#include "ops/attention_core.h"

namespace moescope {

namespace {

// The tables of one (R, theta, dtype, device) for positions [0, n), grown on demand: decoding
// asks for one position per token, and recomputing arange/pow/cos/sin each time cost more than
// the rotation itself. Values are identical to computing the slice directly (pos * inv_freq
// per element).
struct RopeMemo {
  std::mutex mu;
  std::map<std::tuple<int64_t, double, double, int64_t, double, double, double, bool, std::string>,
           std::pair<at::Tensor, at::Tensor>>
      tables;
};
RopeMemo& memo() {
  static RopeMemo m;
  return m;
}

}  // namespace

double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

std::vector<double> rope_inv_freq(int64_t R, const RopeSpec& spec) {
  const int64_t half = R / 2;
  std::vector<double> f(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    f[i] = 1.0 / std::pow(spec.theta, static_cast<double>(2 * i) / static_cast<double>(R));
  if (spec.yarn_factor <= 1.0) return f;
  auto corr = [&](double rot) {
    return (static_cast<double>(R) * std::log(static_cast<double>(spec.yarn_original_max) / (rot * 2.0 * M_PI))) /
           (2.0 * std::log(spec.theta));
  };
  double lo = std::max(0.0, std::floor(corr(spec.beta_fast)));
  double hi = std::min(static_cast<double>(R - 1), std::ceil(corr(spec.beta_slow)));
  if (lo == hi) hi += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    const double ramp = std::min(1.0, std::max(0.0, (static_cast<double>(i) - lo) / (hi - lo)));
    const double extra = 1.0 - ramp;  // weight of the unscaled frequency
    f[i] = f[i] / spec.yarn_factor * (1.0 - extra) + f[i] * extra;
  }
  return f;
}

void rope_tables(int64_t start, int64_t S, int64_t R, double theta, bool dbl, at::Tensor* cos_SR, at::Tensor* sin_SR,
                 const at::Tensor* like) {
  RopeSpec spec;
  spec.theta = theta;
  rope_tables(start, S, R, spec, dbl, cos_SR, sin_SR, like);
}

void rope_tables(int64_t start, int64_t S, int64_t R, const RopeSpec& spec, bool dbl, at::Tensor* cos_SR,
                 at::Tensor* sin_SR, const at::Tensor* like) {
  const double theta = spec.theta;
  auto opts = torch::TensorOptions().dtype(dbl ? torch::kDouble : torch::kFloat);
  if (like) opts = opts.device(like->device());
  auto& m = memo();
  std::lock_guard<std::mutex> lock(m.mu);
  auto& entry = m.tables[{R, theta, spec.yarn_factor, spec.yarn_original_max, spec.beta_fast, spec.beta_slow,
                          spec.attention_factor, dbl, opts.device().str()}];
  if (!entry.first.defined() || entry.first.size(0) < start + S) {
    // Plain tensors even when first asked for under InferenceMode (decoding): training reuses them.
    c10::InferenceMode normal(false);
    torch::NoGradGuard ng;
    const int64_t n = std::max<int64_t>({start + S, 2 * (entry.first.defined() ? entry.first.size(0) : 0), 256});
    at::Tensor inv_freq;  // [R/2]
    if (spec.yarn_factor <= 1.0) {
      auto i = torch::arange(0, R / 2, opts);
      inv_freq = torch::pow(theta, -2.0 * i / static_cast<double>(R));
    } else {
      auto f = rope_inv_freq(R, spec);
      inv_freq = torch::tensor(f, torch::kDouble).to(opts);
    }
    auto pos = torch::arange(0, n, opts);                 // [n]
    auto ang = pos.unsqueeze(1) * inv_freq.unsqueeze(0);  // [n, R/2]
    if (spec.attention_factor != 1.0) entry = {ang.cos() * spec.attention_factor, ang.sin() * spec.attention_factor};
    else entry = {ang.cos(), ang.sin()};
  }
  *cos_SR = entry.first.narrow(0, start, S);
  *sin_SR = entry.second.narrow(0, start, S);
}

at::Tensor apply_rope(const at::Tensor& x_BSHR, const at::Tensor& cos_SR, const at::Tensor& sin_SR) {
  const int64_t half = x_BSHR.size(-1) / 2;
  auto x1 = x_BSHR.narrow(-1, 0, half);
  auto x2 = x_BSHR.narrow(-1, half, half);
  auto c = cast_to(cos_SR, x_BSHR.scalar_type()).unsqueeze(0).unsqueeze(2);  // [1, S, 1, R/2]
  auto s = cast_to(sin_SR, x_BSHR.scalar_type()).unsqueeze(0).unsqueeze(2);
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

}  // namespace moescope
