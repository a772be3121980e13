// corpus_scope_test.cpp: the microscope at inference (scope/corpus_scope.h) on a planted model:
// a router that sends token class X to expert 3 must show X at the top of expert 3, every
// token routed once, the records readable by the health table, and bad options refused.
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "io/jsonl.h"
#include "run/health.h"
#include "run/routing_profile_fields.h"
#include "run/routing_profile_view.h"
#include "scope/corpus_scope.h"
#include "../train/train_test_util.h"

using namespace moescope;
namespace pf = profile_field;

namespace {

const std::set<int64_t> kClassX{5, 6, 7};

// Tiny model, 3 layers (1 dense + 2 MoE, 4 experts, top-2). Layer 1's router is planted: the
// embeddings of X point along +d0, every other token along -d0 (1000x the init scale, so the
// residual stream keeps the sign through layer 0), and router row 3 reads d0.
Transformer planted_model() {
  auto cfg = moescope::testing::tiny_config({"model.n_layers=3"});
  torch::manual_seed(5);
  Transformer model(cfg.model);
  torch::NoGradGuard ng;
  auto emb = model->embed_tokens->weight;
  for (int64_t v = 0; v < emb.size(0); ++v) emb[v][0] = kClassX.count(v) ? 1000.0 : -1000.0;
  auto* moe = model->moe_layers().at(0);
  moe->gate->weight.zero_();
  moe->gate->weight[3][0] = 10.0;
  return model;
}

std::vector<int64_t> random_tokens(int64_t n, uint32_t seed, bool only_x = false) {
  std::mt19937 rng(seed);
  std::vector<int64_t> t(n);
  for (auto& v : t) v = only_x ? 5 + rng() % 3 : rng() % 64;
  return t;
}

CorpusTokens corpus(const std::string& name, const std::vector<int64_t>& t) {
  return {name, int64_t(t.size()), [&t](int64_t i) { return t.at(i); }};
}

}  // namespace

TEST(CorpusScope, PlantedRouterShowsClassXAtTheTopOfExpert3) {
  moescope::testing::ScratchRun s("corpus-scope");
  const std::string run = s.run("r");
  auto model = planted_model();
  const auto a = random_tokens(1000, 1), b = random_tokens(300, 2, /*only_x=*/true);
  CorpusScopeOptions opt;
  opt.batch = 4;
  opt.seq_len = 32;
  opt.log_every = 3;
  opt.top_tokens = 5;
  opt.coact_every = 2;
  std::ostringstream out;
  Progress progress(out, false, 1300);
  auto r = run_corpus_scope(
      model, {corpus("a", a), corpus("b", b)}, opt, ScopeConfig{}, run, "planted",
      [](int64_t id) { return "tok" + std::to_string(id); }, progress);
  EXPECT_EQ(r.tokens, 1300);
  // Corpus a: 31 windows of 32 (8 chunks of <= 4) + a tail of 8; corpus b: 9 windows (3 chunks) + a tail of 12.
  EXPECT_EQ(r.chunks, 9 + 4);
  ASSERT_EQ(r.loss.size(), 2u);
  EXPECT_GT(r.loss[0], 0.0);
  EXPECT_NE(out.str().find("scope: step 3, a: "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("tokens/s, ETA"), std::string::npos) << out.str();

  // The profile: brute force over corpus a + b, every X occurrence on expert 3 of layer 1, and
  // nothing else there.
  const auto prof = read_routing_profile(run);
  ASSERT_TRUE(prof.has_value());
  const auto& l1 = (*prof)[pf::kLayers][0];
  EXPECT_EQ(l1[pf::kLayer], 1);
  std::map<int64_t, int64_t> occurrences;
  for (auto v : a) ++occurrences[v];
  for (auto v : b) ++occurrences[v];
  const auto& top = l1[pf::kTopTokens][3];
  ASSERT_EQ(top.size(), 3u);  // only X reaches expert 3
  int64_t x_total = 0;
  for (const auto& t : top) {
    const int64_t id = t[pf::kId];
    EXPECT_TRUE(kClassX.count(id)) << id;
    EXPECT_EQ(t[pf::kCount].get<int64_t>(), occurrences[id]);
    EXPECT_EQ(t[pf::kText], "tok" + std::to_string(id));
    x_total += occurrences[id];
  }
  EXPECT_EQ(l1[pf::kCounts][3].get<int64_t>(), x_total);
  // Corpus b is all X: expert 3 serves half of its slots (top-2), and prefers corpus b.
  EXPECT_EQ(l1[pf::kCorpusCounts][1][3].get<int64_t>(), 300);
  EXPECT_EQ(l1[pf::kPreferredCorpus][3], 1);
  EXPECT_GT(l1[pf::kSpecialisation][3].get<double>(), 0.3);
  // Every token routed once per layer: K * tokens slots.
  for (const auto& l : (*prof)[pf::kLayers]) {
    int64_t total = 0;
    for (const auto& c : l[pf::kCounts]) total += c.get<int64_t>();
    EXPECT_EQ(total, 2 * 1300);
  }
  ASSERT_EQ((*prof)[pf::kAgreement].size(), 1u);

  // The run log: train records per interval (the microscope's fields, no gradient norms), one
  // eval record per corpus; the interval counts add up to the profile's.
  auto log = read_jsonl(run + "/metrics.jsonl");
  ASSERT_TRUE(log.warnings.empty());
  std::vector<int64_t> sum(4, 0);
  int evals = 0, trains = 0;
  for (const auto& rec : log.records) {
    if (rec["type"] == "eval") {
      ++evals;
      EXPECT_TRUE(rec["moe"][0].contains("maxvio_global"));
      continue;
    }
    ASSERT_EQ(rec["type"], "train");
    ++trains;
    const auto& l = rec["moe"][0];
    for (const char* k : {"entropy_norm", "n_eff", "maxvio_batch", "dead", "router_entropy", "top1_score",
                          "bias_intervention", "tokens_per_expert", "status"})
      EXPECT_TRUE(l.contains(k)) << k;
    EXPECT_EQ(l.contains("coactivation"), trains % 2 == 1) << "interval " << trains;  // intervals 0, 2, 4
    EXPECT_FALSE(l.contains("router_grad_norm"));
    EXPECT_FALSE(rec.contains("saturation"));
    for (int e = 0; e < 4; ++e) sum[e] += l["counts"][e].get<int64_t>();
  }
  EXPECT_EQ(evals, 2);
  EXPECT_EQ(trains, 3 + 2);  // a: 9 chunks -> 3 intervals; b: 4 chunks -> 2 (the corpus ends one)
  for (int e = 0; e < 4; ++e) EXPECT_EQ(sum[e], l1[pf::kCounts][e].get<int64_t>());
  const auto t = read_health_table(run + "/metrics.jsonl");
  EXPECT_EQ(t.step, 13);
  EXPECT_EQ(t.layers.size(), 2u);
}

TEST(CorpusScope, RefusesBadOptionsAndAnExistingRun) {
  moescope::testing::ScratchRun s("corpus-scope-bad");
  auto model = planted_model();
  const auto a = random_tokens(100, 1);
  const std::vector<int64_t> empty;
  std::ostringstream out;
  Progress progress(out, false, 100);
  auto expect_error = [&](const CorpusScopeOptions& o, std::vector<CorpusTokens> c, const std::string& run,
                          const std::string& what) {
    try {
      run_corpus_scope(model, c, o, ScopeConfig{}, run, "m", nullptr, progress);
      ADD_FAILURE() << "no error, expected: " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  CorpusScopeOptions o;
  o.seq_len = 65;
  expect_error(o, {corpus("a", a)}, s.run("x"), "longer than the model's max_seq_len 64");
  o = {};
  o.seq_len = 32;
  o.batch = 0;
  expect_error(o, {corpus("a", a)}, s.run("x"), "--batch must be at least 1");
  o.batch = 2;
  expect_error(o, {corpus("e", empty)}, s.run("x"), "corpus e has no tokens");
  expect_error(o, {}, s.run("x"), "no corpus");
  std::vector<int64_t> oov{1, 2, 64};
  expect_error(o, {corpus("v", oov)}, s.run("y"), "outside the model's vocabulary of 64");
  run_corpus_scope(model, {corpus("a", a)}, o, ScopeConfig{}, s.run("z"), "m", nullptr, progress);
  expect_error(o, {corpus("a", a)}, s.run("z"), "already holds a run");
}
