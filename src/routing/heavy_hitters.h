// heavy_hitters.h: the most frequent items of a stream in bounded memory (torch-free): the
// Space-Saving sketch (Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and
// top-k elements in data streams", ICDT 2005), used for each expert's most frequent tokens in
// the routing profile (routing/routing_profile.h).
//   k counters (item, count, error). An item already counted: count += 1. A new item while a
//   counter is free: (item, 1, 0). Else the counter with the smallest count m is given to the
//   new item: (item, m + 1, m).
// Guarantees after N items (every count and error here is exact arithmetic, no randomness):
//   - a counted item's true frequency f lies in [count - error, count], and error <= N / k;
//   - an item with f > N / k is counted; an item not counted has f <= min count <= N / k;
//   - with exact == true (never more than k distinct items) every count is exact;
//   - the reported i-th item is certainly among the true top t (t <= i) when its lower bound
//     count - error is at least the (t+1)-th largest count (guaranteed_top() counts these).
// Memory: k counters and a k-entry hash map, whatever N or the number of distinct items.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace moescope {

class SpaceSaving {
 public:
  explicit SpaceSaving(int64_t counters);  // counters >= 1
  void add(int64_t item);

  struct Entry {
    int64_t item = 0, count = 0, error = 0;
  };
  // The counted items, most frequent first (ties: smaller item first), at most `n` of them.
  std::vector<Entry> top(int64_t n) const;
  // The largest t <= n such that the first t entries of top() are certainly the true top t as a
  // set (each one's lower bound count - error >= the (t+1)-th count, or t = every distinct item).
  int64_t guaranteed_top(int64_t n) const;
  // The estimate of one item: its count (an upper bound), 0 when not counted.
  int64_t count(int64_t item) const;
  int64_t total() const { return total_; }
  int64_t counters() const { return k_; }
  bool exact() const { return evictions_ == 0; }

 private:
  void sift_down(size_t i);
  bool less(size_t a, size_t b) const;
  int64_t k_, total_ = 0, evictions_ = 0;
  std::vector<Entry> heap_;                  // min-heap by count (ties: larger item first out)
  std::unordered_map<int64_t, size_t> pos_;  // item -> index in heap_
};

}  // namespace moescope
