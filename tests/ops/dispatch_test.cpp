// dispatch_test.cpp: the vectorised dispatch plan against host-loop references.
// Runs on the test device (tests/test_util.h: MOESCOPE_TEST_DEVICE); routings are drawn on the
// CPU and moved, and the plan's tensors come back to the CPU for the comparisons (all integer or
// boolean: exact on every device).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../test_util.h"
#include "ops/dispatch_reference.h"
#include "ops/dispatch.h"

using namespace moescope;
using moescope::testing::cpu;
using moescope::testing::dev;

namespace {
at::Tensor random_routing(int64_t T, int64_t K, int64_t E, at::Tensor* w_TK) {
  // K distinct experts per token, skewed toward low ids so capacity binds.
  auto logits = torch::randn({T, E}) - torch::arange(E, torch::kFloat) * 0.3;
  auto top = logits.softmax(-1).topk(K, -1);
  *w_TK = std::get<0>(top);
  return std::get<1>(top);
}
}  // namespace

TEST(Dispatch, CapacityFormula) {
  EXPECT_EQ(expert_capacity(0.0, 100, 2, 8), -1);
  EXPECT_EQ(expert_capacity(1.0, 100, 2, 8), 25);
  EXPECT_EQ(expert_capacity(1.25, 100, 2, 8), 32);  // ceil(31.25)
}

TEST(Dispatch, DroplessGroupsEveryAssignmentOnceByExpert) {
  moescope::testing::record_device();
  torch::manual_seed(1);
  const int64_t T = 37, K = 3, E = 6;
  at::Tensor w;
  auto ex = random_routing(T, K, E, &w);
  auto plan = plan_dispatch(dev(ex), dev(w), E, 0.0, DropPolicy::kScore);
  EXPECT_EQ(plan.n_dropped, 0);
  EXPECT_EQ(plan.capacity, -1);
  ASSERT_EQ(plan.offsets.back(), T * K);
  EXPECT_EQ(plan.slot_A.device(), moescope::testing::test_device());
  EXPECT_TRUE(plan.keep_TK.all().item<bool>());
  auto slot_A = cpu(plan.slot_A), token_A = cpu(plan.token_A);
  auto sorted = std::get<0>(slot_A.sort());
  EXPECT_TRUE(sorted.equal(torch::arange(T * K)));  // a permutation: each assignment once
  auto flat = ex.reshape({-1});
  for (int64_t e = 0; e < E; ++e) {
    auto block = slot_A.narrow(0, plan.offsets[e], plan.offsets[e + 1] - plan.offsets[e]);
    EXPECT_TRUE(flat.index_select(0, block).eq(e).all().item<bool>()) << "expert " << e;
    EXPECT_EQ(plan.routed_E[e], flat.eq(e).sum().item<int64_t>());
  }
  EXPECT_TRUE(token_A.equal(torch::div(slot_A, K, "floor")));
}

TEST(Dispatch, CapacityMatchesHostLoopReference) {
  moescope::testing::record_device();
  for (const char* policy : {"score", "position"}) {
    for (double cf : {0.25, 0.5, 1.0, 2.0}) {
      torch::manual_seed(7);
      const int64_t T = 64, K = 2, E = 8;
      at::Tensor w;
      auto ex = random_routing(T, K, E, &w);
      const auto p = parse_enum_or_throw<DropPolicy>("drop policy", policy);
      auto plan = plan_dispatch(dev(ex), dev(w), E, cf, p);
      auto ref = reference_keep_mask(ex, w, E, cf, p);
      EXPECT_TRUE(cpu(plan.keep_TK).equal(ref)) << policy << " cf=" << cf;
      EXPECT_EQ(plan.n_dropped, (~ref).sum().item<int64_t>());
      const int64_t cap = expert_capacity(cf, T, K, E);
      for (int64_t e = 0; e < E; ++e) EXPECT_LE(plan.offsets[e + 1] - plan.offsets[e], cap);
      if (cf <= 0.5) {
        EXPECT_GT(plan.n_dropped, 0) << "test must exercise drops";
      }
    }
  }
}

TEST(Dispatch, ScorePolicyDropsLowestWeightsFirst) {
  moescope::testing::record_device();
  // Four tokens all on expert 0, capacity 2 (cf=1, T=4, K=1, E=2): keep the two largest weights.
  auto ex = dev(torch::zeros({4, 1}, torch::kLong));
  auto w = dev(torch::tensor({0.1, 0.9, 0.5, 0.7}).view({4, 1}));
  auto keep = cpu(plan_dispatch(ex, w, 2, 1.0, DropPolicy::kScore).keep_TK.view({4}));
  EXPECT_TRUE(keep.equal(torch::tensor({false, true, false, true})));
  auto keep_pos = cpu(plan_dispatch(ex, w, 2, 1.0, DropPolicy::kPosition).keep_TK.view({4}));
  EXPECT_TRUE(keep_pos.equal(torch::tensor({true, true, false, false})));
}
