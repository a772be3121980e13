// routing_profile.h: the whole-corpus routing analysis of `scope --model` (torch-free): every
// MoE layer's top-k decisions over one or more corpora, accumulated token by token, then
// written as RUN_DIR/routing_profile.json (run/routing_profile_fields.h): per-corpus counts and
// each expert's specialisation across corpora, dead experts, tokens-per-expert spread per layer
// and pooled, each expert's most frequent tokens (decoded), and the routing agreement (mutual
// information) of consecutive MoE layers. Formulas: routing/metrics.h, routing/routing_analysis.h.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "routing/heavy_hitters.h"

namespace moescope {

struct ProfileLayer {
  int64_t layer = 0;    // transformer layer index
  int64_t experts = 0;  // E routed experts
  int64_t top_k = 1;    // K
};

class RoutingProfile {
 public:
  // token_counters: Space-Saving counters per expert (>= 1); kTokenCountersPerTop x the number
  // of tokens shown is the default of scope --model.
  RoutingProfile(std::vector<ProfileLayer> layers, std::vector<std::string> corpora, int64_t token_counters);
  static constexpr int64_t kTokenCountersPerTop = 4;
  static constexpr int64_t kMinTokenCounters = 32;

  // One forward over T tokens of corpus `corpus`: tokens_T their ids; expert_TK[i] the chosen
  // experts of MoE layer i, row-major [T, K_i] (the real top-k decisions). Throws
  // std::invalid_argument for an expert id out of range or a wrong number of layers.
  void observe(size_t corpus, const int64_t* tokens_T, int64_t T, const std::vector<const int64_t*>& expert_TK);

  // The routing_profile.json object. `top_tokens`: most frequent tokens kept per expert (ties:
  // smaller id first) with the sketch's count (an upper bound) and count_error (count -
  // count_error is a lower bound; 0: exact); decode(id) is the token's text.
  nlohmann::json to_json(const std::string& model, int64_t top_tokens,
                         const std::function<std::string(int64_t)>& decode) const;

  // Read-only views (tests).
  const std::vector<int64_t>& corpus_counts(size_t layer, size_t corpus) const { return counts_[layer][corpus]; }
  int64_t token_count(size_t layer, int64_t expert, int64_t token) const;  // the sketch's estimate
  int64_t tokens(size_t corpus) const { return tokens_[corpus]; }

 private:
  std::vector<ProfileLayer> layers_;
  std::vector<std::string> corpora_;
  std::vector<int64_t> tokens_;                            // per corpus
  std::vector<std::vector<std::vector<int64_t>>> counts_;  // [layer][corpus][E]
  std::vector<std::vector<SpaceSaving>> token_counts_;     // [layer][E]: tokens of its slots
  std::vector<std::vector<int64_t>> pairs_;                // [layer i, i+1]: [E_i * E_i+1]
};

}  // namespace moescope
