// routing_analysis.h: the corpus-level routing formulas of `scope --model` (docs/metrics.md,
// "Routing over a corpus"), defined once here; torch-free. Per-expert counts come from the real
// top-k decisions, as everywhere in routing/metrics.h.
#pragma once
#include <cstdint>
#include <vector>

namespace moescope {

// Layer-to-layer routing agreement from the pair counts n_ab of two MoE layers over the same
// tokens: a token choosing the set A at layer l and B at layer l' adds 1 to n_ab for every
// (a, b) in A x B (K * K' pairs). p(a, b) = n_ab / sum n; its marginals are the two layers'
// loads. mi = sum_ab p(a,b) ln(p(a,b) / (p(a) p(b))) in nats; h_from, h_to = entropies of the
// marginals; nmi = mi / sqrt(h_from h_to) in [0, 1] (0 when either entropy is 0).
struct RoutingAgreement {
  double mi = 0, nmi = 0, h_from = 0, h_to = 0;
  int64_t pairs = 0;  // sum n_ab
};
// pairs_AB row-major [E_from, E_to].
RoutingAgreement routing_agreement(const std::vector<int64_t>& pairs_AB, int64_t e_from, int64_t e_to);

// Specialisation of each expert across corpora (C >= 2) from counts_CE[c][e] (slots of corpus c
// on expert e): share s_ce = c_ce / sum_e c_ce (the expert's load on corpus c), q_ce = s_ce /
// sum_c s_ce, specialisation_e = 1 - H(q_e) / ln C in [0, 1] (0: the same share of every
// corpus; 1: only one corpus uses it), preferred_e = argmax_c s_ce. An expert no corpus uses
// gets specialisation -1 (written as null) and preferred -1. With one corpus every value is 0.
struct Specialisation {
  std::vector<std::vector<double>> share_CE;
  std::vector<double> specialisation;  // per expert
  std::vector<int64_t> preferred;      // per expert
};
Specialisation expert_specialisation(const std::vector<std::vector<int64_t>>& counts_CE);

}  // namespace moescope
