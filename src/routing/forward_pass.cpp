// forward_pass.cpp: one forward's routing totals in one pass (see forward_pass.h).
#include "routing/forward_pass.h"

#include "core/fast_math.h"

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
  // Per token, the per-expert math in float32 into x_E (branch-free loops the compiler
  // vectorises, fast_math.h), the sums over experts in double.
  std::vector<float> x_E(static_cast<size_t>(E)), plogp_E(static_cast<size_t>(E));
  float* x = x_E.data();
  float* pl = plogp_E.data();
  for (int64_t t = 0; t < T; ++t) {
    const int64_t* id = ids_TK + t * K;
    for (int64_t k = 0; k < K; ++k) ++counts_E[id[k]];
    const float* lg = logits_TE ? logits_TE + t * E : nullptr;
    if (lg) {
      double sq = 0, lmx = s.logit_max;
#pragma omp simd reduction(+ : sq) reduction(max : lmx)
      for (int64_t e = 0; e < E; ++e) {
        const double v = lg[e];
        sq += v * v;
        lmx = v > lmx ? v : lmx;
      }
      s.logit_sq += sq;
      s.logit_max = lmx;
      s.logit_n += E;
    }
    if (!probs_TE && !lg) continue;
    if (!probs_TE && !sigmoid) {
      // softmax without a log per expert: with u = logit - max, z = sum exp(u), the entropy is
      // log z - sum exp(u) u / z and the top-1 probability is exp(0) / z = 1 / z
      float mx = lg[0];
#pragma omp simd reduction(max : mx)
      for (int64_t e = 1; e < E; ++e) mx = lg[e] > mx ? lg[e] : mx;
      for (int64_t e = 0; e < E; ++e) x[e] = fast_expf(lg[e] - mx);
      double z = 0, eu = 0;
#pragma omp simd reduction(+ : z, eu)
      for (int64_t e = 0; e < E; ++e) {
        z += x[e];
        eu += static_cast<double>(x[e]) * static_cast<double>(lg[e] - mx);
      }
      s.ent_sum += (fast_logf(static_cast<float>(z)) - eu / z) * inv_ln_e;
      s.top1_sum += 1.0 / z;
      ++s.prob_tokens;
      continue;
    }
    // scores p: given, or sigmoid(logits); a sigmoid router's are normalised per token (q = p / S)
    // for the entropy: -sum q log q = log S - sum p log p / S
    const float* p = probs_TE ? probs_TE + t * E : x;
    if (!probs_TE)
      for (int64_t e = 0; e < E; ++e) x[e] = 1.0f / (1.0f + fast_expf(-lg[e]));
    for (int64_t e = 0; e < E; ++e) pl[e] = p[e] * fast_logf(std::max(p[e], 1.17549435e-38f));  // 0 log 0 = 0
    double top1 = 0, sum = 0, plogp = 0;
#pragma omp simd reduction(max : top1) reduction(+ : sum, plogp)
    for (int64_t e = 0; e < E; ++e) {
      const double pe = p[e];
      top1 = pe > top1 ? pe : top1;
      sum += pe;
      plogp += pl[e];
    }
    const double ent = sigmoid ? (sum > 0 ? std::log(sum) - plogp / sum : 0.0) : -plogp;
    s.ent_sum += ent * inv_ln_e;
    s.top1_sum += top1;
    ++s.prob_tokens;
  }
  return s;
}

}  // namespace moescope
