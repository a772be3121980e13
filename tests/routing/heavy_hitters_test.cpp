// heavy_hitters_test.cpp: the Space-Saving sketch (routing/heavy_hitters.h) against exact counts
// on a skewed (Zipf) stream: every estimate brackets the true count, errors stay under N / k,
// frequent items are never lost, and the entries it guarantees are the exact top tokens.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "routing/heavy_hitters.h"

using namespace moescope;

namespace {
// n draws of a Zipf(s) law over `items` ids, shuffled ids so that rank != id.
std::vector<int64_t> zipf_stream(int64_t n, int64_t items, double s, uint32_t seed) {
  std::vector<double> w(items);
  for (int64_t i = 0; i < items; ++i) w[i] = 1.0 / std::pow(double(i + 1), s);
  std::vector<int64_t> ids(items);
  for (int64_t i = 0; i < items; ++i) ids[i] = i;
  std::mt19937 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::discrete_distribution<int64_t> d(w.begin(), w.end());
  std::vector<int64_t> out(n);
  for (auto& v : out) v = ids[d(rng)];
  return out;
}

// The exact (count desc, id asc) order.
std::vector<std::pair<int64_t, int64_t>> exact_top(const std::map<int64_t, int64_t>& f) {
  std::vector<std::pair<int64_t, int64_t>> v(f.begin(), f.end());
  std::sort(v.begin(), v.end(),
            [](auto& a, auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  return v;
}
}  // namespace

TEST(SpaceSaving, BoundsHoldOnASkewedStream) {
  for (int64_t k : {40, 400}) {
    SCOPED_TRACE(k);
    const auto stream = zipf_stream(200000, 5000, 1.1, 7);
    SpaceSaving sk(k);
    std::map<int64_t, int64_t> f;
    for (auto v : stream) {
      sk.add(v);
      ++f[v];
    }
    const int64_t N = int64_t(stream.size());
    EXPECT_EQ(sk.total(), N);
    EXPECT_FALSE(sk.exact());
    const auto all = sk.top(-1);
    ASSERT_EQ(int64_t(all.size()), k);
    std::set<int64_t> counted;
    for (const auto& e : all) {
      const int64_t truth = f[e.item];
      EXPECT_LE(e.count - e.error, truth) << e.item;
      EXPECT_GE(e.count, truth) << e.item;
      EXPECT_LE(e.error, N / k);
      counted.insert(e.item);
    }
    for (const auto& [item, n] : f) {
      if (n > N / k) {
        EXPECT_TRUE(counted.count(item)) << "item " << item << " seen " << n << " times, over N/k";
      }
    }
    // The guaranteed prefix is the exact top-t set.
    const auto ex = exact_top(f);
    const int64_t t = sk.guaranteed_top(10);
    EXPECT_GE(t, k == 400 ? 10 : 3);
    const auto top = sk.top(t);
    std::set<int64_t> got, want;
    for (int64_t i = 0; i < t; ++i) {
      got.insert(top[i].item);
      want.insert(ex[i].first);
    }
    EXPECT_EQ(got, want);
    // With k = 400 the top 10 are reported in the exact order, with their true counts bracketed.
    if (k == 400) {
      for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(top[i].item, ex[i].first) << i;
    }
  }
}

TEST(SpaceSaving, ExactWithFewDistinctItems) {
  SpaceSaving sk(8);
  std::map<int64_t, int64_t> f;
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    const int64_t v = 100 + int64_t(rng() % 8);
    sk.add(v);
    ++f[v];
  }
  EXPECT_TRUE(sk.exact());
  for (const auto& [item, n] : f) EXPECT_EQ(sk.count(item), n);
  EXPECT_EQ(sk.count(99), 0);
  EXPECT_EQ(sk.guaranteed_top(5), 5);
  const auto ex = exact_top(f);
  const auto top = sk.top(8);
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_EQ(top[i].item, ex[i].first);
    EXPECT_EQ(top[i].error, 0);
  }
  EXPECT_THROW(SpaceSaving(0), std::invalid_argument);
}
