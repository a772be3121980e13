// routing_analysis.cpp: see routing_analysis.h.
#include "routing/routing_analysis.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace moescope {
namespace {
double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double v : p)
    if (v > 0) h -= v * std::log(v);
  return h;
}
}  // namespace

RoutingAgreement routing_agreement(const std::vector<int64_t>& n, int64_t ea, int64_t eb) {
  if (ea < 1 || eb < 1 || static_cast<int64_t>(n.size()) != ea * eb)
    throw std::invalid_argument("routing_agreement: expected " + std::to_string(ea) + " x " + std::to_string(eb) +
                                " pair counts, got " + std::to_string(n.size()));
  RoutingAgreement r;
  for (int64_t v : n) r.pairs += v;
  if (r.pairs == 0) return r;
  const double total = double(r.pairs);
  std::vector<double> pa(ea, 0.0), pb(eb, 0.0);
  for (int64_t a = 0; a < ea; ++a)
    for (int64_t b = 0; b < eb; ++b) {
      const double p = double(n[a * eb + b]) / total;
      pa[a] += p;
      pb[b] += p;
    }
  for (int64_t a = 0; a < ea; ++a)
    for (int64_t b = 0; b < eb; ++b) {
      const double p = double(n[a * eb + b]) / total;
      if (p > 0) r.mi += p * std::log(p / (pa[a] * pb[b]));
    }
  r.mi = std::max(0.0, r.mi);  // rounding can leave -1e-17 for independent layers
  r.h_from = entropy(pa);
  r.h_to = entropy(pb);
  r.nmi = (r.h_from > 0 && r.h_to > 0) ? std::min(1.0, r.mi / std::sqrt(r.h_from * r.h_to)) : 0.0;
  return r;
}

Specialisation expert_specialisation(const std::vector<std::vector<int64_t>>& counts) {
  Specialisation s;
  const size_t C = counts.size();
  if (C == 0) return s;
  const size_t E = counts[0].size();
  for (const auto& row : counts)
    if (row.size() != E) throw std::invalid_argument("expert_specialisation: corpora have different expert counts");
  s.share_CE.assign(C, std::vector<double>(E, 0.0));
  for (size_t c = 0; c < C; ++c) {
    int64_t total = 0;
    for (int64_t v : counts[c]) total += v;
    for (size_t e = 0; e < E; ++e) s.share_CE[c][e] = total ? double(counts[c][e]) / double(total) : 0.0;
  }
  s.specialisation.assign(E, 0.0);
  s.preferred.assign(E, -1);
  for (size_t e = 0; e < E; ++e) {
    double sum = 0;
    for (size_t c = 0; c < C; ++c) sum += s.share_CE[c][e];
    if (sum <= 0) {
      s.specialisation[e] = -1;
      continue;
    }
    std::vector<double> q(C);
    size_t best = 0;
    for (size_t c = 0; c < C; ++c) {
      q[c] = s.share_CE[c][e] / sum;
      if (s.share_CE[c][e] > s.share_CE[best][e]) best = c;
    }
    s.preferred[e] = static_cast<int64_t>(best);
    s.specialisation[e] = C > 1 ? std::max(0.0, 1.0 - entropy(q) / std::log(double(C))) : 0.0;
  }
  return s;
}

}  // namespace moescope
