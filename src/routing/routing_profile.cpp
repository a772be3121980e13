// routing_profile.cpp: see routing_profile.h.
#include "routing/routing_profile.h"

#include <algorithm>
#include <stdexcept>

#include "run/routing_profile_fields.h"
#include "routing/metrics.h"
#include "routing/routing_analysis.h"

namespace moescope {
namespace pf = profile_field;
namespace {
nlohmann::json spread_json(const CountSpread& s) {
  return {{"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"min", s.min}, {"max", s.max}, {"cv", s.cv}};
}
}  // namespace

RoutingProfile::RoutingProfile(std::vector<ProfileLayer> layers, std::vector<std::string> corpora,
                               int64_t token_counters)
    : layers_(std::move(layers)), corpora_(std::move(corpora)) {
  if (token_counters < 1) throw std::invalid_argument("routing profile: token_counters must be at least 1");
  if (corpora_.empty()) throw std::invalid_argument("routing profile: no corpus");
  tokens_.assign(corpora_.size(), 0);
  for (const auto& l : layers_) {
    if (l.experts < 1 || l.top_k < 1 || l.top_k > l.experts)
      throw std::invalid_argument("routing profile: layer " + std::to_string(l.layer) +
                                  " has E = " + std::to_string(l.experts) + ", K = " + std::to_string(l.top_k));
    counts_.emplace_back(corpora_.size(), std::vector<int64_t>(l.experts, 0));
    token_counts_.emplace_back(static_cast<size_t>(l.experts), SpaceSaving(token_counters));
  }
  for (size_t i = 0; i + 1 < layers_.size(); ++i) pairs_.emplace_back(layers_[i].experts * layers_[i + 1].experts, 0);
}

void RoutingProfile::observe(size_t corpus, const int64_t* tok, int64_t T, const std::vector<const int64_t*>& ex) {
  if (corpus >= corpora_.size()) throw std::invalid_argument("routing profile: corpus index out of range");
  if (ex.size() != layers_.size())
    throw std::invalid_argument("routing profile: " + std::to_string(ex.size()) + " layers' routing for " +
                                std::to_string(layers_.size()) + " MoE layers");
  for (size_t i = 0; i < layers_.size(); ++i) {
    const int64_t E = layers_[i].experts, K = layers_[i].top_k;
    auto& counts = counts_[i][corpus];
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t e = ex[i][t * K + k];
        if (e < 0 || e >= E)
          throw std::invalid_argument("routing profile: expert id " + std::to_string(e) + " out of range at layer " +
                                      std::to_string(layers_[i].layer));
        ++counts[e];
        token_counts_[i][e].add(tok[t]);
      }
    if (i + 1 < layers_.size()) {
      const int64_t K2 = layers_[i + 1].top_k, E2 = layers_[i + 1].experts;
      auto& pairs = pairs_[i];
      for (int64_t t = 0; t < T; ++t)
        for (int64_t a = 0; a < K; ++a)
          for (int64_t b = 0; b < K2; ++b) {
            const int64_t e2 = ex[i + 1][t * K2 + b];
            if (e2 < 0 || e2 >= E2) continue;  // reported when layer i + 1 is counted
            ++pairs[ex[i][t * K + a] * E2 + e2];
          }
    }
  }
  tokens_[corpus] += T;
}

int64_t RoutingProfile::token_count(size_t layer, int64_t expert, int64_t token) const {
  return token_counts_.at(layer).at(expert).count(token);
}

nlohmann::json RoutingProfile::to_json(const std::string& model, int64_t top_tokens,
                                       const std::function<std::string(int64_t)>& decode) const {
  nlohmann::json j;
  j[pf::kVersionKey] = pf::kVersion;
  j[pf::kModel] = model;
  nlohmann::json corpora = nlohmann::json::array();
  for (size_t c = 0; c < corpora_.size(); ++c) corpora.push_back({{pf::kName, corpora_[c]}, {pf::kTokens, tokens_[c]}});
  j[pf::kCorpora] = corpora;
  std::vector<int64_t> pooled;
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& L = layers_[i];
    std::vector<int64_t> total(L.experts, 0);
    for (const auto& cc : counts_[i])
      for (int64_t e = 0; e < L.experts; ++e) total[e] += cc[e];
    pooled.insert(pooled.end(), total.begin(), total.end());
    const LoadMetrics m = load_metrics(total, L.top_k);
    const Specialisation sp = expert_specialisation(counts_[i]);
    nlohmann::json spec = nlohmann::json::array();
    for (double v : sp.specialisation) spec.push_back(v < 0 ? nlohmann::json() : nlohmann::json(v));
    nlohmann::json top = nlohmann::json::array();
    for (int64_t e = 0; e < L.experts; ++e) {
      const auto v = token_counts_[i][e].top(std::max<int64_t>(0, top_tokens));
      nlohmann::json list = nlohmann::json::array();
      for (const auto& t : v)
        list.push_back({{pf::kId, t.item},
                        {pf::kText, decode ? decode(t.item) : std::string()},
                        {pf::kCount, t.count},
                        {pf::kCountError, t.error},
                        {pf::kShare, total[e] ? double(t.count) / double(total[e]) : 0.0}});
      top.push_back(list);
    }
    layers.push_back({{pf::kLayer, L.layer},
                      {pf::kExperts, L.experts},
                      {pf::kTopK, L.top_k},
                      {pf::kCounts, total},
                      {pf::kCorpusCounts, counts_[i]},
                      {pf::kCorpusShare, sp.share_CE},
                      {pf::kDead, m.dead},
                      {pf::kEntropyNorm, m.entropy_norm},
                      {pf::kNEff, m.n_eff},
                      {pf::kMaxVioGlobal, m.maxvio},
                      {pf::kTokensPerExpert, spread_json(m.spread)},
                      {pf::kSpecialisation, spec},
                      {pf::kPreferredCorpus, sp.preferred},
                      {pf::kTopTokens, top}});
  }
  j[pf::kLayers] = layers;
  j[pf::kTokensPerExpert] = spread_json(count_spread(pooled));
  nlohmann::json agree = nlohmann::json::array();
  for (size_t i = 0; i + 1 < layers_.size(); ++i) {
    const RoutingAgreement a = routing_agreement(pairs_[i], layers_[i].experts, layers_[i + 1].experts);
    agree.push_back({{pf::kFrom, layers_[i].layer},
                     {pf::kTo, layers_[i + 1].layer},
                     {pf::kMi, a.mi},
                     {pf::kNmi, a.nmi},
                     {pf::kHFrom, a.h_from},
                     {pf::kHTo, a.h_to}});
  }
  j[pf::kAgreement] = agree;
  return j;
}

}  // namespace moescope
