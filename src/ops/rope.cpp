// rope.cpp: see rope.h.
#include "ops/rope.h"

#include <algorithm>
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
  std::map<std::tuple<int64_t, double, bool, std::string>, std::pair<at::Tensor, at::Tensor>> tables;
};
RopeMemo& memo() {
  static RopeMemo m;
  return m;
}

}  // namespace

void rope_tables(int64_t start, int64_t S, int64_t R, double theta, bool dbl, at::Tensor* cos_SR,
                 at::Tensor* sin_SR, const at::Tensor* like) {
  auto opts = torch::TensorOptions().dtype(dbl ? torch::kDouble : torch::kFloat);
  if (like) opts = opts.device(like->device());
  auto& m = memo();
  std::lock_guard<std::mutex> lock(m.mu);
  auto& entry = m.tables[{R, theta, dbl, opts.device().str()}];
  if (!entry.first.defined() || entry.first.size(0) < start + S) {
    // Plain tensors even when first asked for under InferenceMode (decoding): training reuses them.
    c10::InferenceMode normal(false);
    torch::NoGradGuard ng;
    const int64_t n = std::max<int64_t>({start + S, 2 * (entry.first.defined() ? entry.first.size(0) : 0), 256});
    auto i = torch::arange(0, R / 2, opts);
    auto inv_freq = torch::pow(theta, -2.0 * i / static_cast<double>(R));          // [R/2]
    auto pos = torch::arange(0, n, opts);                                            // [n]
    auto ang = pos.unsqueeze(1) * inv_freq.unsqueeze(0);                             // [n, R/2]
    entry = {ang.cos(), ang.sin()};
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
