// adamw_test.cpp: AdamW against a naive per-element double-precision reference (decoupled
// decay, decay exemption, per-parameter lr multipliers changed mid-run), the state round trip,
// moment reset, and the errors of the lr-multiplier accessors. Tolerance: 1e-12 (both double).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "train/adamw.h"

using namespace moescope;

namespace {
// One element's AdamW trajectory, written out from the formula in adamw.h.
struct NaiveAdamW {
  double p, m = 0, v = 0;
  void step(double g, double lr, double mult, bool decay, int64_t t, double b1, double b2, double eps, double wd) {
    const double plr = lr * mult;
    if (decay) p *= 1.0 - plr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double mhat = m / (1 - std::pow(b1, double(t))), vhat = v / (1 - std::pow(b2, double(t)));
    p -= plr * mhat / (std::sqrt(vhat) + eps);
  }
};
}  // namespace

TEST(AdamW, MatchesTheNaiveFormulaWithDecayExemptionAndChangedLrMultipliers) {
  torch::manual_seed(3);
  const auto opts = torch::dtype(torch::kDouble);
  auto w = torch::randn({3, 4}, opts).requires_grad_(true);
  auto b = torch::randn({4}, opts).requires_grad_(true);
  const double b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
  AdamW opt({{"layers.1.mlp.gate.weight", w, true, 30.0}, {"norm.bias", b, false, 1.0}}, b1, b2, eps, wd);
  std::vector<NaiveAdamW> rw, rb;
  for (int64_t i = 0; i < w.numel(); ++i) rw.push_back({w.view(-1)[i].item<double>()});
  for (int64_t i = 0; i < b.numel(); ++i) rb.push_back({b.view(-1)[i].item<double>()});
  double mult = 30.0;
  for (int64_t t = 1; t <= 6; ++t) {
    if (t == 4) {  // remediation cools the router mid-run
      opt.set_lr_mult("layers.1.mlp.gate.weight", 7.5);
      mult = 7.5;
    }
    EXPECT_DOUBLE_EQ(opt.lr_mult("layers.1.mlp.gate.weight"), mult);
    opt.zero_grad();
    auto gw = torch::randn({3, 4}, opts), gb = torch::randn({4}, opts);
    ((w * gw).sum() + (b * gb).sum()).backward();
    const double lr = 1e-3 * t;
    opt.step(lr);
    for (int64_t i = 0; i < w.numel(); ++i)
      rw[i].step(gw.view(-1)[i].item<double>(), lr, mult, true, t, b1, b2, eps, wd);
    for (int64_t i = 0; i < b.numel(); ++i)
      rb[i].step(gb.view(-1)[i].item<double>(), lr, 1.0, false, t, b1, b2, eps, wd);
  }
  for (int64_t i = 0; i < w.numel(); ++i) EXPECT_NEAR(w.view(-1)[i].item<double>(), rw[i].p, 1e-12) << i;
  for (int64_t i = 0; i < b.numel(); ++i) EXPECT_NEAR(b.view(-1)[i].item<double>(), rb[i].p, 1e-12) << i;
  EXPECT_EQ(opt.steps(), 6);
}

TEST(AdamW, StateRoundTripsAndResetZeroesOnlyThePrefix) {
  auto a = torch::ones({2, 2}).requires_grad_(true), c = torch::ones({2}).requires_grad_(true);
  AdamW opt({{"layers.1.mlp.experts.3.up_proj.weight", a, true, 1.0}, {"layers.1.mlp.experts.31.w", c, true, 1.0}}, 0.9,
            0.99, 1e-8, 0.0);
  ((a * 2).sum() + (c * 3).sum()).backward();
  opt.step(0.1);
  auto saved = opt.state();
  AdamW other({{"layers.1.mlp.experts.3.up_proj.weight", a, true, 1.0}, {"layers.1.mlp.experts.31.w", c, true, 1.0}},
              0.9, 0.99, 1e-8, 0.0);
  other.load_state(saved, opt.steps());
  for (size_t i = 0; i < saved.size(); ++i)
    EXPECT_TRUE(other.state()[i].second.equal(saved[i].second)) << saved[i].first;
  other.reset_state("layers.1.mlp.experts.3.");  // the trailing dot keeps expert 31 out
  auto st = other.state();
  EXPECT_EQ(st[0].second.abs().sum().item<double>(), 0.0);  // exp_avg of expert 3
  EXPECT_GT(st[2].second.abs().sum().item<double>(), 0.0);  // exp_avg of expert 31
  saved.pop_back();
  EXPECT_THROW(other.load_state(saved, 1), std::runtime_error);
}

TEST(AdamW, LrMultiplierAccessorsNameTheBadInput) {
  auto w = torch::ones({2}).requires_grad_(true);
  AdamW opt({{"w", w, true, 2.0}}, 0.9, 0.99, 1e-8, 0.0);
  EXPECT_THROW(opt.lr_mult("layers.9.mlp.gate.weight"), std::runtime_error);
  EXPECT_THROW(opt.set_lr_mult("nope", 1.0), std::runtime_error);
  EXPECT_THROW(opt.set_lr_mult("w", 0.0), std::invalid_argument);
  EXPECT_THROW(opt.set_lr_mult("w", std::nan("")), std::invalid_argument);
  opt.set_lr_mult("w", 0.5);
  EXPECT_DOUBLE_EQ(opt.lr_mult("w"), 0.5);
}
