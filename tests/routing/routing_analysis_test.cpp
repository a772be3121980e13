// routing_analysis_test.cpp: layer-to-layer mutual information and per-expert specialisation
// (routing/routing_analysis.h) against naive references written here from the per-token
// assignments, and the whole-corpus RoutingProfile against brute-force counts.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "run/routing_profile_fields.h"
#include "run/routing_profile_view.h"
#include "routing/routing_analysis.h"
#include "routing/routing_profile.h"

using namespace moescope;
namespace pf = profile_field;

namespace {

// Naive MI: every token spreads weight 1/(K K') over its pairs; MI = H(A) + H(B) - H(A, B) from
// maps of the joint, in long double.
double naive_mi(const std::vector<std::vector<int>>& a, const std::vector<std::vector<int>>& b, double* nmi) {
  std::map<std::pair<int, int>, long double> joint;
  std::map<int, long double> pa, pb;
  const long double T = a.size();
  for (size_t t = 0; t < a.size(); ++t) {
    const long double w = 1.0L / (a[t].size() * b[t].size()) / T;
    for (int x : a[t])
      for (int y : b[t]) {
        joint[{x, y}] += w;
        pa[x] += w;
        pb[y] += w;
      }
  }
  auto H = [](const auto& m) {
    long double h = 0;
    for (auto& [k, p] : m) h -= p > 0 ? p * std::log(p) : 0;
    return h;
  };
  const long double ha = H(pa), hb = H(pb), mi = ha + hb - H(joint);
  *nmi = double(mi / std::sqrt(ha * hb));
  return double(mi);
}

std::vector<int64_t> pair_counts(const std::vector<std::vector<int>>& a, const std::vector<std::vector<int>>& b, int ea,
                                 int eb) {
  std::vector<int64_t> n(ea * eb, 0);
  for (size_t t = 0; t < a.size(); ++t)
    for (int x : a[t])
      for (int y : b[t]) ++n[x * eb + y];
  return n;
}

std::vector<int> distinct_k(std::mt19937& rng, int E, int K) {
  std::vector<int> all(E);
  for (int e = 0; e < E; ++e) all[e] = e;
  std::shuffle(all.begin(), all.end(), rng);
  return std::vector<int>(all.begin(), all.begin() + K);
}

}  // namespace

TEST(RoutingAgreement, MatchesTheNaiveReferenceOnRandomTopKAssignments) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 5; ++trial) {
    const int ea = 4 + trial, eb = 6, ka = 1 + trial % 3, kb = 2;
    std::vector<std::vector<int>> a, b;
    for (int t = 0; t < 500; ++t) {
      a.push_back(distinct_k(rng, ea, ka));
      // layer l+1 depends partly on layer l: it includes a[t][0] % eb 3 times in 4
      auto s = distinct_k(rng, eb, kb);
      if (rng() % 4 != 0 && std::find(s.begin(), s.end(), a[t][0] % eb) == s.end()) s[0] = a[t][0] % eb;
      b.push_back(s);
    }
    double nmi_ref = 0;
    const double mi_ref = naive_mi(a, b, &nmi_ref);
    const auto r = routing_agreement(pair_counts(a, b, ea, eb), ea, eb);
    EXPECT_NEAR(r.mi, mi_ref, 1e-10) << "trial " << trial;
    EXPECT_NEAR(r.nmi, nmi_ref, 1e-10) << "trial " << trial;
    EXPECT_GT(r.mi, 0.01);
    EXPECT_EQ(r.pairs, 500 * ka * kb);
  }
}

TEST(RoutingAgreement, IdenticalTop1RoutingIsFullyPredictableAndIndependentIsZero) {
  // Layer l+1 = a permutation of layer l's expert (top-1): MI = H, NMI = 1.
  std::vector<std::vector<int>> a, b, c;
  for (int t = 0; t < 400; ++t) {
    a.push_back({t % 4});
    b.push_back({(t % 4 + 1) % 4});
    c.push_back({(t / 4) % 4});  // independent of a: every (a, c) pair equally often
  }
  auto r = routing_agreement(pair_counts(a, b, 4, 4), 4, 4);
  EXPECT_NEAR(r.mi, std::log(4.0), 1e-12);
  EXPECT_NEAR(r.nmi, 1.0, 1e-12);
  r = routing_agreement(pair_counts(a, c, 4, 4), 4, 4);
  EXPECT_NEAR(r.mi, 0.0, 1e-12);
  EXPECT_NEAR(r.nmi, 0.0, 1e-12);
  // One layer always on one expert: no entropy, NMI defined as 0.
  std::vector<std::vector<int>> one(400, std::vector<int>{2});
  r = routing_agreement(pair_counts(a, one, 4, 4), 4, 4);
  EXPECT_EQ(r.h_to, 0.0);
  EXPECT_EQ(r.nmi, 0.0);
  EXPECT_THROW(routing_agreement({1, 2, 3}, 2, 2), std::invalid_argument);
}

TEST(Specialisation, SharesPerCorpusAndTheEntropyMeasure) {
  // Corpus 0 is twice as long; expert 0 has the same share of both, expert 2 only corpus 1,
  // expert 3 nobody.
  const std::vector<std::vector<int64_t>> counts{{200, 600, 0, 0}, {100, 100, 100, 0}};
  const auto s = expert_specialisation(counts);
  EXPECT_NEAR(s.share_CE[0][0], 0.25, 1e-12);
  EXPECT_NEAR(s.share_CE[1][0], 1.0 / 3, 1e-12);
  // Naive: q = shares normalised over corpora, 1 - H(q)/ln 2.
  auto spec = [](double s0, double s1) {
    const double q0 = s0 / (s0 + s1), q1 = s1 / (s0 + s1);
    double h = 0;
    for (double q : {q0, q1}) h -= q > 0 ? q * std::log(q) : 0;
    return 1 - h / std::log(2.0);
  };
  EXPECT_NEAR(s.specialisation[0], spec(0.25, 1.0 / 3), 1e-12);
  EXPECT_NEAR(s.specialisation[1], spec(0.75, 1.0 / 3), 1e-12);
  EXPECT_NEAR(s.specialisation[2], 1.0, 1e-12);
  EXPECT_EQ(s.preferred[2], 1);
  EXPECT_EQ(s.preferred[1], 0);
  EXPECT_EQ(s.specialisation[3], -1.0);
  EXPECT_EQ(s.preferred[3], -1);
  // Equal shares: 0.
  const auto eq = expert_specialisation({{10, 30}, {20, 60}});
  EXPECT_NEAR(eq.specialisation[0], 0.0, 1e-12);
  EXPECT_NEAR(eq.specialisation[1], 0.0, 1e-12);
}

TEST(RoutingProfile, CountsTopTokensAndAgreementAgainstBruteForce) {
  std::mt19937 rng(11);
  const int E1 = 4, K1 = 2, E2 = 6, K2 = 1, V = 20;
  RoutingProfile p({{1, E1, K1}, {2, E2, K2}}, {"a.txt", "b.txt"}, /*token_counters: exact for V tokens=*/V);
  std::vector<std::vector<int>> a, b;
  std::vector<int> tokens, corpus_of;
  for (int chunk = 0; chunk < 6; ++chunk) {
    const int T = 37 + chunk, c = chunk % 2;
    std::vector<int64_t> tok(T), e1(T * K1), e2(T * K2);
    for (int t = 0; t < T; ++t) {
      tok[t] = rng() % V;
      // tokens 0-2 always on expert 3, the others never
      auto s1 = tok[t] < 3 ? std::vector<int>{3, int(tok[t] + 1) % 3} : distinct_k(rng, E1 - 1, K1);
      auto s2 = distinct_k(rng, E2, K2);
      for (int k = 0; k < K1; ++k) e1[t * K1 + k] = s1[k];
      e2[t] = s2[0];
      a.push_back(s1);
      b.push_back(s2);
      tokens.push_back(tok[t]);
      corpus_of.push_back(c);
    }
    p.observe(c, tok.data(), T, {e1.data(), e2.data()});
  }
  // Brute force: per (layer 0, expert, token) and per (corpus, expert).
  std::map<std::tuple<int, int>, int64_t> by_token;
  std::vector<std::vector<int64_t>> by_corpus(2, std::vector<int64_t>(E1, 0));
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int e : a[t]) {
      ++by_token[std::make_tuple(e, tokens[t])];
      ++by_corpus[corpus_of[t]][e];
    }
  for (int e = 0; e < E1; ++e)
    for (int v = 0; v < V; ++v) EXPECT_EQ(p.token_count(0, e, v), by_token[std::make_tuple(e, v)]) << e << " " << v;
  EXPECT_EQ(p.corpus_counts(0, 0), by_corpus[0]);
  EXPECT_EQ(p.corpus_counts(0, 1), by_corpus[1]);
  const auto j = p.to_json("m", 3, [](int64_t id) { return "t" + std::to_string(id); });
  EXPECT_NO_THROW(check_routing_profile(j, "test"));
  EXPECT_EQ(j[pf::kVersionKey], pf::kVersion);
  // Expert 3's top tokens are exactly 0-2, in descending count; shares of the expert's slots.
  const auto& top3 = j[pf::kLayers][0][pf::kTopTokens][3];
  ASSERT_EQ(top3.size(), 3u);
  int64_t slots3 = by_corpus[0][3] + by_corpus[1][3];
  for (size_t r = 0; r < 3; ++r) {
    const int64_t id = top3[r][pf::kId];
    EXPECT_LT(id, 3);
    EXPECT_EQ(top3[r][pf::kText], "t" + std::to_string(id));
    EXPECT_EQ(top3[r][pf::kCount].get<int64_t>(), by_token[std::make_tuple(3, int(id))]);
    EXPECT_NEAR(top3[r][pf::kShare].get<double>(), double(by_token[std::make_tuple(3, int(id))]) / double(slots3),
                1e-12);
    if (r) {
      EXPECT_GE(top3[r - 1][pf::kCount].get<int64_t>(), top3[r][pf::kCount].get<int64_t>());
    }
  }
  double nmi_ref = 0;
  const double mi_ref = naive_mi(a, b, &nmi_ref);
  EXPECT_NEAR(j[pf::kAgreement][0][pf::kMi].get<double>(), mi_ref, 1e-10);
  EXPECT_NEAR(j[pf::kAgreement][0][pf::kNmi].get<double>(), nmi_ref, 1e-10);
  EXPECT_EQ(j[pf::kAgreement][0][pf::kFrom], 1);
  EXPECT_EQ(j[pf::kAgreement][0][pf::kTo], 2);
  // Rendering names the corpora and the agreement.
  const std::string text = render_routing_profile(j, 2);
  EXPECT_NE(text.find("a.txt"), std::string::npos) << text;
  EXPECT_NE(text.find("layer 1 -> 2"), std::string::npos) << text;
  EXPECT_NE(text.find("most specialised"), std::string::npos) << text;
  // Bad input.
  std::vector<int64_t> tok{0}, bad{7, 0}, ok2{0};
  EXPECT_THROW(p.observe(0, tok.data(), 1, {bad.data(), ok2.data()}), std::invalid_argument);
  EXPECT_THROW(p.observe(0, tok.data(), 1, {bad.data()}), std::invalid_argument);
}

TEST(RoutingProfileView, RefusesAnotherVersionAndWrongTypesNamingTheField) {
  RoutingProfile p({{1, 2, 1}}, {"x"}, 4);
  std::vector<int64_t> tok{0, 1}, e{0, 1};
  p.observe(0, tok.data(), 2, {e.data()});
  auto j = p.to_json("m", 2, nullptr);
  EXPECT_NO_THROW(check_routing_profile(j, "f.json"));
  auto v = j;
  v[pf::kVersionKey] = 2;
  try {
    check_routing_profile(v, "f.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("routing_profile_version 2 is not supported"), std::string::npos) << e.what();
  }
  auto w = j;
  w[pf::kLayers][0][pf::kCounts] = "x";
  try {
    check_routing_profile(w, "f.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("layers[].counts is not an array"), std::string::npos) << e.what();
  }
  auto t = j;
  t[pf::kLayers][0][pf::kTopTokens][0][0][pf::kCount] = 1.5;
  EXPECT_THROW(check_routing_profile(t, "f.json"), std::runtime_error);
}
