// forward_pass.cpp: one forward's routing totals in one pass (see forward_pass.h).
#include "routing/forward_pass.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace moescope {

void add_coactivation_pairs(const int64_t* ids_TK, int64_t T, int64_t K, int64_t E, int64_t* coact_EE) {
  for (int64_t t = 0; t < T; ++t) {
    const int64_t* id = ids_TK + t * K;
    for (int64_t a = 0; a < K; ++a) {
      if (std::find(id, id + a, id[a]) != id + a) continue;  // a repeated id counts once
      for (int64_t b = 0; b < K; ++b)
        if (std::find(id, id + b, id[b]) == id + b) ++coact_EE[id[a] * E + id[b]];
    }
  }
}

ForwardSums accumulate_forward(const int64_t* ids_TK, int64_t T, int64_t K, int64_t E, const float* probs_TE,
                               const float* logits_TE, bool sigmoid, int64_t* counts_E, int64_t* coact_EE,
                               const std::string& where) {
  if (T < 0 || K < 1 || E < 1) throw std::invalid_argument(where + ": bad sizes (tokens, top_k, n_experts)");
  for (int64_t i = 0; i < T * K; ++i)
    if (ids_TK[i] < 0 || ids_TK[i] >= E)
      throw std::invalid_argument(where + ": expert id " + std::to_string(ids_TK[i]) + " is not in [0, " +
                                  std::to_string(E) + ") (n_experts = " + std::to_string(E) + ")");
  if (coact_EE) add_coactivation_pairs(ids_TK, T, K, E, coact_EE);
  ForwardSums s;
  const double inv_ln_e = E > 1 ? 1.0 / std::log(static_cast<double>(E)) : 1.0;
  std::vector<double> p(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    const int64_t* id = ids_TK + t * K;
    for (int64_t k = 0; k < K; ++k) ++counts_E[id[k]];
    const float* lg = logits_TE ? logits_TE + t * E : nullptr;
    if (lg) {
      for (int64_t e = 0; e < E; ++e) {
        const double v = lg[e];
        s.logit_sq += v * v;
        s.logit_max = std::max(s.logit_max, v);
      }
      s.logit_n += E;
    }
    if (!probs_TE && !lg) continue;
    double top1 = 0, sum = 0;
    if (probs_TE) {
      for (int64_t e = 0; e < E; ++e) p[e] = probs_TE[t * E + e];
    } else if (sigmoid) {
      for (int64_t e = 0; e < E; ++e) p[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(lg[e])));
    } else {
      // softmax without a log per expert: with u = logit - max, z = sum exp(u), the entropy is
      // log z - sum exp(u) u / z and the top-1 probability is exp(0) / z = 1 / z
      double mx = lg[0];
      for (int64_t e = 1; e < E; ++e) mx = std::max(mx, static_cast<double>(lg[e]));
      double z = 0, eu = 0;
      for (int64_t e = 0; e < E; ++e) {
        // exp in float32, the router's own precision (as the torch path), summed in double
        const float uf = lg[e] - static_cast<float>(mx);
        const double u = uf, x = std::exp(uf);
        z += x;
        eu += x * u;
      }
      s.ent_sum += (std::log(z) - eu / z) * inv_ln_e;
      s.top1_sum += 1.0 / z;
      ++s.prob_tokens;
      continue;
    }
    for (int64_t e = 0; e < E; ++e) {
      top1 = std::max(top1, p[e]);
      sum += p[e];
    }
    const double norm = sigmoid ? 1.0 / std::max(sum, 1e-30) : 1.0;
    double ent = 0;
    for (int64_t e = 0; e < E; ++e) {
      const double q = p[e] * norm;
      if (q > 0) ent -= q * std::log(q);
    }
    s.ent_sum += ent * inv_ln_e;
    s.top1_sum += top1;
    ++s.prob_tokens;
  }
  return s;
}

}  // namespace moescope
