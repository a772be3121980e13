// heavy_hitters.cpp: see heavy_hitters.h.
#include "routing/heavy_hitters.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moescope {

SpaceSaving::SpaceSaving(int64_t counters) : k_(counters) {
  if (counters < 1)
    throw std::invalid_argument("Space-Saving sketch: needs at least 1 counter (got " + std::to_string(counters) + ")");
  heap_.reserve(static_cast<size_t>(k_));
  pos_.reserve(static_cast<size_t>(k_) * 2);
}

// The heap's order: smaller count first; for equal counts the larger item first (so that the
// item evicted among equals is the one top() would list last).
bool SpaceSaving::less(size_t a, size_t b) const {
  const Entry &x = heap_[a], &y = heap_[b];
  return x.count != y.count ? x.count < y.count : x.item > y.item;
}

void SpaceSaving::sift_down(size_t i) {
  const size_t n = heap_.size();
  for (;;) {
    size_t m = i;
    const size_t l = 2 * i + 1, r = l + 1;
    if (l < n && less(l, m)) m = l;
    if (r < n && less(r, m)) m = r;
    if (m == i) return;
    std::swap(heap_[i], heap_[m]);
    pos_[heap_[i].item] = i;
    pos_[heap_[m].item] = m;
    i = m;
  }
}

void SpaceSaving::add(int64_t item) {
  ++total_;
  auto it = pos_.find(item);
  if (it != pos_.end()) {  // a larger count only moves down a min-heap
    ++heap_[it->second].count;
    sift_down(it->second);
    return;
  }
  if (static_cast<int64_t>(heap_.size()) < k_) {  // a free counter: the new minimum (count 1) goes up
    heap_.push_back({item, 1, 0});
    size_t i = heap_.size() - 1;
    pos_[item] = i;
    while (i > 0) {
      const size_t p = (i - 1) / 2;
      if (!less(i, p)) break;
      std::swap(heap_[i], heap_[p]);
      pos_[heap_[i].item] = i;
      pos_[heap_[p].item] = p;
      i = p;
    }
    return;
  }
  ++evictions_;
  Entry& min = heap_[0];
  pos_.erase(min.item);
  min = {item, min.count + 1, min.count};
  pos_[item] = 0;
  sift_down(0);
}

std::vector<SpaceSaving::Entry> SpaceSaving::top(int64_t n) const {
  std::vector<Entry> v = heap_;
  std::sort(v.begin(), v.end(),
            [](const Entry& a, const Entry& b) { return a.count != b.count ? a.count > b.count : a.item < b.item; });
  if (n >= 0 && static_cast<size_t>(n) < v.size()) v.resize(static_cast<size_t>(n));
  return v;
}

int64_t SpaceSaving::guaranteed_top(int64_t n) const {
  const auto v = top(-1);
  const int64_t m = std::min<int64_t>(n, static_cast<int64_t>(v.size()));
  if (exact()) return m;
  // The first t are the true top t when every one of them certainly beats every item outside:
  // the smallest lower bound among them >= the largest count after them (an uncounted item's
  // frequency is at most the minimum count, itself <= that count).
  int64_t best = 0, lower = INT64_MAX;
  for (int64_t t = 1; t <= m; ++t) {
    lower = std::min(lower, v[t - 1].count - v[t - 1].error);
    const int64_t next = static_cast<size_t>(t) < v.size() ? v[t].count : heap_.empty() ? 0 : v.back().count;
    if (lower >= next) best = t;
  }
  return best;
}

int64_t SpaceSaving::count(int64_t item) const {
  auto it = pos_.find(item);
  return it == pos_.end() ? 0 : heap_[it->second].count;
}

}  // namespace moescope
