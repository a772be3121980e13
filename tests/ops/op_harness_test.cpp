// op_harness_test.cpp: every op against a naive version, in the spirit of ggml's test-backend-ops.
// Each case builds its inputs in fp64 on the CPU (fixed seed), rounds them to the dtype under
// test, runs the op on the test device (MOESCOPE_TEST_DEVICE=cuda for CUDA) and compares with
// a naive fp64 computation on the CPU from the same rounded inputs. The error is
// max|op - naive| / max(|naive|, 1); each op states its tolerance per dtype (0 = exact; negative
// = not run: expert dispatch has no bf16 input, its gate weights come from the fp32 router).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "ops/dispatch_reference.h"
#include "ops/attention_core.h"
#include "ops/dispatch.h"
#include "ops/grouped_swiglu.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

using namespace moescope;
using moescope::testing::dev;
using moescope::testing::test_device;

namespace {

struct Tolerance {
  double fp64, fp32, bf16;
  double of(at::ScalarType t) const { return t == at::kDouble ? fp64 : t == at::kFloat ? fp32 : bf16; }
};

// One op: given the dtype, returns {the op's output, the naive fp64 output}.
struct OpCase {
  std::string name;
  Tolerance tol;
  std::function<std::pair<at::Tensor, at::Tensor>(at::ScalarType)> run;
};

// fp64 CPU input rounded to `t` (the naive side reads the same rounded values).
at::Tensor input(std::vector<int64_t> shape, at::ScalarType t, double scale = 1.0) {
  return (torch::randn(shape, torch::kDouble) * scale).to(t).to(torch::kDouble);
}
at::Tensor on_device(const at::Tensor& x, at::ScalarType t) { return dev(x.to(t)); }
at::Tensor naive_silu(const at::Tensor& x) { return x / (1 + torch::exp(-x)); }

at::Tensor naive_swiglu(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu, const at::Tensor& wd) {
  return (naive_silu(x.matmul(wg.t())) * x.matmul(wu.t())).matmul(wd.t());
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  c.push_back({"rmsnorm", {1e-12, 1e-5, 2e-2}, [](at::ScalarType t) {
                 auto x = input({7, 24}, t), w = input({24}, t);
                 auto naive = x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6) * w;
                 return std::pair{rms_norm(on_device(x, t), on_device(w, t), 1e-6), naive};
               }});
  c.push_back({"rope", {1e-12, 1e-5, 2e-2}, [](at::ScalarType t) {
                 const int64_t B = 2, S = 5, H = 3, R = 8, start = 3;
                 auto x = input({B, S, H, R}, t);
                 auto xd = on_device(x, t);
                 at::Tensor cs, sn;
                 rope_tables(start, S, R, 10000.0, t == at::kDouble, &cs, &sn, &xd);
                 auto naive = torch::empty_like(x);
                 for (int64_t s = 0; s < S; ++s)
                   for (int64_t i = 0; i < R / 2; ++i) {
                     const double a = double(start + s) * std::pow(10000.0, -2.0 * double(i) / double(R));
                     auto x1 = x.select(1, s).select(-1, i), x2 = x.select(1, s).select(-1, i + R / 2);
                     naive.select(1, s).select(-1, i).copy_(x1 * std::cos(a) - x2 * std::sin(a));
                     naive.select(1, s).select(-1, i + R / 2).copy_(x2 * std::cos(a) + x1 * std::sin(a));
                   }
                 return std::pair{apply_rope(xd, cs, sn), naive};
               }});
  c.push_back({"attention_core", {1e-12, 1e-5, 3e-2}, [](at::ScalarType t) {
                 const int64_t B = 1, H = 2, S = 4, start = 3, L = start + S, dk = 8, dv = 6;
                 const double scale = 1.0 / std::sqrt(double(dk));
                 auto q = input({B, H, S, dk}, t), k = input({B, H, L, dk}, t), v = input({B, H, L, dv}, t);
                 auto naive = torch::zeros({B, H, S, dv}, torch::kDouble);
                 for (int64_t i = 0; i < S; ++i) {
                   const int64_t n = start + i + 1;  // keys 0..start+i
                   auto s = q.narrow(2, i, 1).matmul(k.narrow(2, 0, n).transpose(2, 3)) * scale;
                   naive.narrow(2, i, 1).copy_(torch::softmax(s, -1).matmul(v.narrow(2, 0, n)));
                 }
                 auto out = causal_attention(on_device(q, t), on_device(k, t), on_device(v, t), start, scale);
                 return std::pair{out, naive};
               }});
  c.push_back({"swiglu", {1e-12, 1e-5, 3e-2}, [](at::ScalarType t) {
                 auto x = input({6, 16}, t), wg = input({12, 16}, t, 0.3), wu = input({12, 16}, t, 0.3),
                      wd = input({16, 12}, t, 0.3);
                 auto out = swiglu(on_device(x, t), on_device(wg, t), on_device(wu, t), on_device(wd, t));
                 return std::pair{out, naive_swiglu(x, wg, wu, wd)};
               }});
  c.push_back({"grouped_swiglu", {1e-12, 1e-5, 3e-2}, [](at::ScalarType t) {
                 const std::vector<int64_t> sizes = {2, 0, 3};  // an empty expert block too
                 const int64_t A = 5, D = 16, F = 12;
                 auto x = input({A, D}, t), w = input({A}, t).abs();
                 std::vector<at::Tensor> wg, wu, wd, wg_d, wu_d, wd_d;
                 for (size_t e = 0; e < sizes.size(); ++e) {
                   wg.push_back(input({F, D}, t, 0.3)), wu.push_back(input({F, D}, t, 0.3)),
                       wd.push_back(input({D, F}, t, 0.3));
                   wg_d.push_back(on_device(wg.back(), t)), wu_d.push_back(on_device(wu.back(), t)),
                       wd_d.push_back(on_device(wd.back(), t));
                 }
                 auto naive = torch::zeros({A, D}, torch::kDouble);
                 int64_t row = 0;
                 for (size_t e = 0; e < sizes.size(); ++e) {
                   if (sizes[e] == 0) continue;
                   auto xb = x.narrow(0, row, sizes[e]);
                   naive.narrow(0, row, sizes[e])
                       .copy_(naive_swiglu(xb, wg[e], wu[e], wd[e]) * w.narrow(0, row, sizes[e]).unsqueeze(1));
                   row += sizes[e];
                 }
                 auto out = grouped_swiglu(on_device(x, t), on_device(w, t), sizes, wg_d, wu_d, wd_d);
                 return std::pair{out, naive};
               }});
  c.push_back({"dispatch", {0, 0, -1}, [](at::ScalarType t) {
                 // The keep mask of a capacity-limited plan, both drop policies (exact).
                 const int64_t T = 16, K = 2, E = 4;
                 auto expert = torch::randint(E, {T, K}, torch::kLong);
                 auto weight = torch::rand({T, K}, torch::kDouble).to(t);
                 at::Tensor got, want;
                 for (DropPolicy p : {DropPolicy::kScore, DropPolicy::kPosition}) {
                   auto plan = plan_dispatch(dev(expert), dev(weight), E, 0.75, p);
                   auto ref = reference_keep_mask(expert, weight.to(torch::kDouble), E, 0.75, p);
                   got = got.defined() ? torch::cat({got, plan.keep_TK.cpu()}) : plan.keep_TK.cpu();
                   want = want.defined() ? torch::cat({want, ref}) : ref;
                 }
                 return std::pair{got.to(torch::kDouble), want.to(torch::kDouble)};
               }});
  return c;
}

}  // namespace

TEST(OpHarness, EveryOpMatchesItsNaiveVersionWithinItsToleranceInEveryDtype) {
  moescope::testing::record_device();
  for (const auto& op : cases())
    for (at::ScalarType t : {at::kDouble, at::kFloat, at::kBFloat16}) {
      const double tol = op.tol.of(t);
      if (tol < 0) continue;  // the op has no input of this dtype
      torch::manual_seed(1234);
      auto [out, naive] = op.run(t);
      ASSERT_EQ(out.sizes(), naive.sizes()) << op.name;
      const double err = (out.to(torch::kCPU).to(torch::kDouble) - naive).abs().max().item<double>() /
                         std::max(1.0, naive.abs().max().item<double>());
      EXPECT_LE(err, tol) << op.name << " in " << c10::toString(t) << " on " << test_device();
      ::testing::Test::RecordProperty(op.name + "_" + c10::toString(t), std::to_string(err));
    }
}
