// verdicts_test.cpp: one set of counts (tests/fixtures/verdicts/counts.json) through the C++
// front ends, the trainer's microscope and `scope --model`'s (forward_only), gives in every
// interval the status of the written definition (docs/metrics.md, "Ground truth");
// python/tests/test_verdicts.py feeds the same counts through the Python package
// (moescope._core) against the same statuses, so the three front ends agree.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "io/remove_tree.h"
#include "model/transformer.h"
#include "scope/microscope.h"
#include "../test_paths.h"

using namespace moescope;
using moescope::testing::source_path;
using moescope::testing::tiny_config;
namespace fs = std::filesystem;

namespace {
nlohmann::json fixture() {
  std::ifstream f(source_path("tests/fixtures/verdicts/counts.json"));
  return nlohmann::json::parse(f);
}

// The statuses of one scenario's intervals as the microscope logs them (one forward and one
// optimizer step per interval, the step numbered log_every, 2 log_every, ...).
std::vector<std::string> microscope_statuses(const nlohmann::json& sc, int64_t log_every, bool forward_only) {
  const int64_t E = sc["experts"], K = sc["top_k"];
  Config cfg = tiny_config({"moe.n_routed=" + std::to_string(E), "moe.top_k=" + std::to_string(K),
                            "moe.expert_hidden=4", "scope.tensorboard=false"});
  const fs::path dir = fs::temp_directory_path() / ("moescope-verdicts-" + std::to_string(::getpid()) + "-" +
                                                    sc["name"].get<std::string>() + (forward_only ? "-fwd" : "-train"));
  remove_tree(dir.string());
  fs::create_directories(dir);
  ScopeContext ctx;
  ctx.model = Transformer(cfg.model);
  ctx.run_dir = dir.string();
  ctx.log_every = log_every;
  ctx.max_steps = log_every * static_cast<int64_t>(sc["intervals"].size());
  ctx.forward_only = forward_only;
  ctx.probe_tokens = torch::zeros({1, 8}, torch::kLong);
  std::ostringstream console;
  std::vector<std::string> out;
  {
    Microscope micro(ctx, cfg.scope, console);
    int64_t step = 0;
    for (const auto& iv : sc["intervals"]) {
      RoutingObservation o;
      o.valid = true;
      o.routing.counts = iv["counts"].get<std::vector<int64_t>>();
      o.routing.top_k = K;
      int64_t slots = 0;
      for (auto c : o.routing.counts) slots += c;
      // Drops taken from the busiest experts' slots (where a capacity drops them).
      int64_t dropped = std::llround(iv["drop_rate"].get<double>() * double(slots));
      o.routing.kept = o.routing.counts;
      for (int64_t left = dropped; left > 0;) {
        auto it = std::max_element(o.routing.kept.begin(), o.routing.kept.end());
        const int64_t take = std::min<int64_t>(left, std::max<int64_t>(1, *it / 4));
        *it -= take;
        left -= take;
      }
      o.routing.totals.assign = slots;
      o.routing.totals.dropped = dropped;
      o.routing.totals.tokens = slots / K;
      o.routing.totals.forwards = 1;
      micro.observe({o});
      step += log_every;  // one step stands for the interval's log_every
      micro.after_step(step);
      nlohmann::json rec = {{"step", step}};
      micro.on_log(step, rec);
      out.push_back(rec["moe"][0]["status"].get<std::string>());
    }
  }
  remove_tree_nothrow(dir.string());
  return out;
}
}  // namespace

TEST(Verdicts, TrainerAndScopeModelMicroscopesGiveTheWrittenStatusesForTheSameCounts) {
  const auto fx = fixture();
  ASSERT_EQ(fx["version"], 1);
  const int64_t log_every = fx["log_every"];
  ASSERT_GE(fx["scenarios"].size(), 6u);
  for (const auto& sc : fx["scenarios"]) {
    const auto want = sc["expect"].get<std::vector<std::string>>();
    EXPECT_EQ(microscope_statuses(sc, log_every, /*forward_only=*/false), want) << sc["name"] << " (trainer)";
    EXPECT_EQ(microscope_statuses(sc, log_every, /*forward_only=*/true), want) << sc["name"] << " (scope --model)";
  }
}
