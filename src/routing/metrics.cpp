// metrics.cpp: see metrics.h.
#include "routing/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moescope {

double maxvio(const std::vector<int64_t>& c) {
  if (c.empty()) return 0;
  const double total = static_cast<double>(std::accumulate(c.begin(), c.end(), int64_t{0}));
  if (total <= 0) return 0;
  const double mean = total / static_cast<double>(c.size());
  return (static_cast<double>(*std::max_element(c.begin(), c.end())) - mean) / mean;
}

CountSpread count_spread(std::vector<int64_t> c) {
  CountSpread s;
  if (c.empty()) return s;
  std::sort(c.begin(), c.end());
  const double n = static_cast<double>(c.size());
  auto pct = [&](double q) {
    const double r = q * (n - 1);
    const size_t lo = static_cast<size_t>(std::floor(r)), hi = std::min(lo + 1, c.size() - 1);
    return static_cast<double>(c[lo]) + (r - static_cast<double>(lo)) * static_cast<double>(c[hi] - c[lo]);
  };
  s.p50 = pct(0.5);
  s.p90 = pct(0.9);
  s.p99 = pct(0.99);
  s.min = static_cast<double>(c.front());
  s.max = static_cast<double>(c.back());
  const double mean = std::accumulate(c.begin(), c.end(), 0.0) / n;
  double var = 0;
  for (int64_t v : c) var += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  s.cv = mean > 0 ? std::sqrt(var / n) / mean : 0.0;
  return s;
}

std::vector<int64_t> starved_experts(const LoadMetrics& m, double ratio) {
  std::vector<int64_t> out;
  if (m.total <= 0 || m.load.empty()) return out;
  const double share = ratio / static_cast<double>(m.load.size());
  for (size_t i = 0; i < m.load.size(); ++i)
    if (m.load[i] < share) out.push_back(static_cast<int64_t>(i));
  return out;
}

bool load_judged(const LoadMetrics& m, double min_slots_per_expert) {
  if (m.total <= 0 || m.load.empty()) return false;
  return static_cast<double>(m.total) >= min_slots_per_expert * static_cast<double>(m.load.size());
}

double imbalanced_token_share(double multiple, double base, int64_t top_k, int64_t n_experts) {
  const double cap = dominant_token_share(base, top_k, n_experts);
  if (n_experts <= 1) return cap;
  const double k = static_cast<double>(std::clamp<int64_t>(top_k, 1, n_experts));
  return std::min(cap, multiple * k / static_cast<double>(n_experts));
}

LoadMetrics load_metrics(const std::vector<int64_t>& c, int64_t top_k) {
  LoadMetrics m;
  const int64_t E = static_cast<int64_t>(c.size());
  m.load.assign(E, 0.0);
  m.total = std::accumulate(c.begin(), c.end(), int64_t{0});
  m.spread = count_spread(c);
  m.top_k = std::max<int64_t>(1, top_k);
  for (int64_t i = 0; i < E; ++i)
    if (c[i] == 0) m.dead.push_back(i);
  if (E == 0 || m.total == 0) return m;
  double h = 0;
  for (int64_t i = 0; i < E; ++i) {
    m.load[i] = static_cast<double>(c[i]) / static_cast<double>(m.total);
    if (m.load[i] > 0) h -= m.load[i] * std::log(m.load[i]);
  }
  m.entropy_norm = E > 1 ? h / std::log(static_cast<double>(E)) : 1.0;
  m.n_eff = std::exp(h);
  const double mean = 1.0 / static_cast<double>(E);
  double var = 0;
  for (double l : m.load) var += (l - mean) * (l - mean);
  m.cv = std::sqrt(var / static_cast<double>(E)) / mean;
  auto [mn, mx] = std::minmax_element(m.load.begin(), m.load.end());
  m.min_max_ratio = *mn / *mx;
  m.max_share = *mx;
  m.max_token_share = *mx * static_cast<double>(std::max<int64_t>(1, top_k));
  m.argmax = mx - m.load.begin();
  m.maxvio = maxvio(c);
  return m;
}

double dominant_token_share(double base, int64_t top_k, int64_t n_experts) {
  if (n_experts <= 1) return 1.0;
  const double k = static_cast<double>(std::clamp<int64_t>(top_k, 1, n_experts));
  return base + (1.0 - base) * (k - 1.0) / static_cast<double>(n_experts - 1);
}

int64_t starved_critical_count(int64_t min_count, double fraction, int64_t n_experts) {
  const auto by_fraction = static_cast<int64_t>(std::ceil(fraction * static_cast<double>(n_experts) - 1e-9));
  return std::max(min_count, by_fraction);
}

double normalised_entropy(const double* p, int64_t E) {
  if (E <= 1) return 1.0;
  double h = 0;
  for (int64_t i = 0; i < E; ++i)
    if (p[i] > 0) h -= p[i] * std::log(p[i]);
  return h / std::log(static_cast<double>(E));
}

double trend_slope(const std::vector<double>& y) {
  const size_t n = y.size();
  if (n < 2) return 0;
  const double xm = (static_cast<double>(n) - 1) / 2.0;
  const double ym = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (static_cast<double>(i) - xm) * (y[i] - ym);
    den += (static_cast<double>(i) - xm) * (static_cast<double>(i) - xm);
  }
  return num / den;
}

}  // namespace moescope
