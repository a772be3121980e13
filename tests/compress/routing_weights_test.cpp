// routing_weights_test.cpp: routing-aware compression (compress/routing_weights.h): the weights
// from routing counts, the weighted objective against a naive sum, the weighted bank gradient
// against autograd (float64), the altmin bank step as the weighted least-squares optimum, that
// weighting buys heavy experts a lower error than the unweighted objective at the same budget,
// and the errors for a routing run that is missing or of another model.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "compress/basis_init.h"
#include "compress/factor_metrics.h"
#include "compress/normalise.h"
#include "compress/refit.h"
#include "compress/routing_weights.h"
#include "compress/stopping.h"
#include "io/remove_tree.h"
#include "run/routing_profile_fields.h"

using namespace moescope;
using namespace moescope::compress;
namespace fs = std::filesystem;

namespace {
// A lossy problem: random experts (not in the model class), E 8 of 8 x 16, z-scored.
GroupState random_group(uint64_t seed) {
  torch::manual_seed(seed);
  auto W = torch::randn({8, 8, 16}, torch::kDouble);
  return build_groups({{1, "gate", W}}, BankScope::kLayer, true)[0];
}

double expert_rel_error(const GroupState& g, Activation f, int64_t e) {
  auto Zhat = compose(f, g.A_EPR, mixture(g.logits_EM), g.B_MRD);
  return std::sqrt((g.Z_EPD[e] - Zhat[e]).pow(2).sum().item<double>() / g.Z_EPD[e].pow(2).sum().item<double>());
}

CompressConfig altmin_cfg(int64_t iters) {
  CompressConfig cfg;
  cfg.solver = Solver::kAltmin;
  cfg.max_iters = iters;
  cfg.plateau_iters = 0;
  cfg.bank_ridge = 0;
  cfg.ridge = 0;
  return cfg;
}
}  // namespace

TEST(RoutingWeights, FromCountsWithFloor) {
  // E = 4, 40 slots: shares 0.75, 0.25, 0, 0 -> E * share = 3, 1, 0, 0, floored at 0.1.
  auto w = routing_weights_E({30, 10, 0, 0}, 0.1);
  ASSERT_EQ(w.numel(), 4);
  EXPECT_DOUBLE_EQ(w[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(w[1].item<double>(), 1.0);
  EXPECT_DOUBLE_EQ(w[2].item<double>(), 0.1);
  EXPECT_DOUBLE_EQ(routing_weights_E({30, 10, 0, 0}, 0.0)[3].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(routing_weights_E({5, 5, 5, 5}, 0.1).sum().item<double>(), 4.0);  // uniform = 1 each
  EXPECT_THROW(routing_weights_E({0, 0}, 0.1), std::invalid_argument);
}

TEST(RoutingWeights, WeightedObjectiveMatchesNaiveSum) {
  auto g = random_group(3);
  initialise(g, InitMethod::kRandom, 3, 2, Activation::kSilu, 1e-6, 5);
  const double plain = group_objective(g, Activation::kSilu);
  set_objective_weights(g, torch::tensor({5.0, 0.1, 1.0, 1.0, 2.0, 0.0, 1.0, 3.0}, torch::kDouble));
  double num = 0, den = 0;
  for (int64_t e = 0; e < 8; ++e) {
    auto Zhat = compose(Activation::kSilu, g.A_EPR[e].unsqueeze(0), mixture(g.logits_EM)[e].unsqueeze(0), g.B_MRD)[0];
    const double w = g.weight_E[e].item<double>();
    num += w * (g.Z_EPD[e] - Zhat).pow(2).sum().item<double>();
    den += w * g.Z_EPD[e].pow(2).sum().item<double>();
  }
  EXPECT_NEAR(group_objective(g, Activation::kSilu), num / den, 1e-12);
  EXPECT_GT(std::abs(num / den - plain), 1e-6);  // the weights do change it
  set_objective_weights(g, torch::ones({8}, torch::kDouble));
  EXPECT_NEAR(group_objective(g, Activation::kSilu), plain, 1e-12);  // w = 1: the unweighted objective
}

TEST(RoutingWeights, WeightedBankGradientMatchesAutograd) {
  for (auto f : {Activation::kIdentity, Activation::kSilu, Activation::kTanh}) {
    auto g = random_group(4);
    initialise(g, InitMethod::kRandom, 3, 2, f, 1e-6, 6);
    set_objective_weights(g, torch::tensor({5.0, 0.1, 1.0, 1.0, 2.0, 0.0, 1.0, 3.0}, torch::kDouble));
    auto B = g.B_MRD.clone().requires_grad_(true);
    auto alpha = mixture(g.logits_EM).detach();
    auto err_E = (g.Z_EPD - compose(f, g.A_EPR, alpha, B)).pow(2).sum({1, 2});
    auto grad = torch::autograd::grad({(err_E * g.weight_E).sum()}, {B})[0];
    torch::NoGradGuard ng;
    EXPECT_LT((error_grad_bank(g, f, alpha, g.B_MRD) - grad).abs().max().item<double>(),
              1e-9 * grad.abs().max().item<double>() + 1e-12)
        << activation_name(f);
  }
}

TEST(RoutingWeights, AltminBankIsTheWeightedLeastSquaresOptimum) {
  // f = identity: after an altmin iteration (bank last, ridge 0) the weighted objective is
  // stationary in B, while the unweighted one is not.
  auto g = random_group(5);
  initialise(g, InitMethod::kSvd, 3, 2, Activation::kIdentity, 0.0, 7);
  set_objective_weights(g, torch::tensor({20.0, 20.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05}, torch::kDouble));
  std::vector<GroupState> gs{g};
  solve_altmin(gs, altmin_cfg(3), Activation::kIdentity, [](const IterationReport&) {});
  auto alpha = mixture(gs[0].logits_EM);
  auto weighted = error_grad_bank(gs[0], Activation::kIdentity, alpha, gs[0].B_MRD);
  GroupState plain = gs[0];
  plain.weight_E = at::Tensor();
  auto unweighted = error_grad_bank(plain, Activation::kIdentity, alpha, plain.B_MRD);
  EXPECT_LT(weighted.abs().max().item<double>(), 1e-8 * unweighted.abs().max().item<double>());
  EXPECT_GT(unweighted.abs().max().item<double>(), 1e-3);
}

TEST(RoutingWeights, HeavyExpertsReconstructBetterThanUnweighted) {
  // Same problem, same start, same budget (rank 3, 2 bases for 8 experts): weighting experts 0
  // and 1 by 20 and the rest by 0.05 must give those two a lower error than the unweighted solve.
  for (auto f : {Activation::kIdentity, Activation::kSilu}) {
    auto base = random_group(6);
    initialise(base, InitMethod::kSvd, 3, 2, f, 1e-6, 8);
    std::vector<GroupState> plain{base}, weighted{base};
    set_objective_weights(weighted[0], torch::tensor({20.0, 20.0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05}, torch::kDouble));
    auto cfg = altmin_cfg(40);
    cfg.ridge = cfg.bank_ridge = 1e-6;
    solve_altmin(plain, cfg, f, [](const IterationReport&) {});
    solve_altmin(weighted, cfg, f, [](const IterationReport&) {});
    const double p01 = expert_rel_error(plain[0], f, 0) + expert_rel_error(plain[0], f, 1);
    const double w01 = expert_rel_error(weighted[0], f, 0) + expert_rel_error(weighted[0], f, 1);
    std::cout << "[weighted] " << activation_name(f) << ": experts 0+1 rel error " << p01 << " unweighted, " << w01
              << " weighted\n";
    EXPECT_LT(w01, 0.9 * p01) << activation_name(f);
    auto m = measure(weighted[0], f, cfg.prune_eps, cfg.ridge);
    EXPECT_GE(m.weighted_rel_error, 0.0);
    EXPECT_LT(m.weighted_rel_error, m.rel_error);  // the heavy experts are the better fitted ones
    EXPECT_LT(measure(plain[0], f, cfg.prune_eps, cfg.ridge).weighted_rel_error, 0.0);  // unweighted: not reported
  }
}

TEST(RoutingWeights, ApplyAndBadRuns) {
  const fs::path dir = fs::temp_directory_path() / ("moescope-rw-" + std::to_string(::getpid()));
  remove_tree(dir.string());
  fs::create_directories(dir);
  EXPECT_THROW(
      {
        try {
          read_routing_counts(dir.string());
        } catch (const std::invalid_argument& e) {
          EXPECT_NE(std::string(e.what()).find("scope --model"), std::string::npos) << e.what();
          throw;
        }
      },
      std::invalid_argument);
  namespace pf = profile_field;
  const std::vector<int64_t> counts{8, 0, 4, 4, 0, 0, 0, 0};
  nlohmann::json nulls = nlohmann::json::array(), pref = nlohmann::json::array(), tops = nlohmann::json::array();
  for (int e = 0; e < 8; ++e) nulls.push_back(nullptr), pref.push_back(0), tops.push_back(nlohmann::json::array());
  nlohmann::json layer = {{pf::kLayer, 1},
                          {pf::kExperts, 8},
                          {pf::kTopK, 2},
                          {pf::kCounts, counts},
                          {pf::kSpecialisation, nulls},
                          {pf::kPreferredCorpus, pref},
                          {pf::kTopTokens, tops},
                          {pf::kDead, {1, 4, 5, 6, 7}},
                          {pf::kCorpusCounts, {counts}},
                          {pf::kCorpusShare, {{0.5, 0, 0.25, 0.25, 0, 0, 0, 0}}}};
  nlohmann::json profile = {{pf::kVersionKey, pf::kVersion},
                            {pf::kCorpora, {{{pf::kName, "c"}, {pf::kTokens, 8}}}},
                            {pf::kLayers, {layer}},
                            {pf::kAgreement, nlohmann::json::array()}};
  std::ofstream(dir / pf::kFile) << profile.dump();
  RoutingCounts rc = read_routing_counts(dir.string());
  ASSERT_EQ(rc.layers.count(1), 1u);
  std::vector<GroupState> gs{random_group(7)};
  apply_routing_weights(gs, rc, 0.25);
  // 16 slots over 8 experts: E * share = 4, 0, 2, 2, 0... floored at 0.25.
  auto expect = torch::tensor({4.0, 0.25, 2.0, 2.0, 0.25, 0.25, 0.25, 0.25}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(gs[0].weight_E, expect)) << gs[0].weight_E;
  RoutingCounts other = rc;
  other.layers.clear();
  other.layers[2] = rc.layers[1];
  EXPECT_THROW(apply_routing_weights(gs, other, 0.1), std::invalid_argument);  // no counts for layer 1
  other.layers[1] = {1, 2, 3};
  EXPECT_THROW(apply_routing_weights(gs, other, 0.1), std::invalid_argument);  // 3 experts, the model has 8
  profile[pf::kVersionKey] = 99;  // a profile of another version names the field
  std::ofstream(dir / pf::kFile, std::ios::trunc) << profile.dump();
  try {
    read_routing_counts(dir.string());
    ADD_FAILURE() << "version 99 was read";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(pf::kVersionKey), std::string::npos) << e.what();
  }
  remove_tree(dir.string());
}
