// series_table.cpp: column store and min/max downsampling (see series_table.h).
#include "dashboard/series_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace moescope::dashboard {

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
}

void SeriesTable::add_row(double step) {
  steps_.push_back(step);
  for (auto& [name, field] : columns_)
    for (auto& [entity, col] : field.by_entity) col.push_back(kNaN);
}

void SeriesTable::set(const std::string& field, const std::string& entity, double value) {
  if (steps_.empty()) throw std::logic_error("SeriesTable::set before add_row");
  Field& f = columns_[field];
  auto it = f.by_entity.find(entity);
  if (it == f.by_entity.end()) {
    f.order.push_back(entity);
    it = f.by_entity.emplace(entity, std::vector<float>(steps_.size(), kNaN)).first;
  }
  it->second.back() = static_cast<float>(value);
}

std::vector<std::string> SeriesTable::fields() const {
  std::vector<std::string> out;
  for (auto& [name, f] : columns_) out.push_back(name);
  return out;
}

std::vector<std::string> SeriesTable::entities(const std::string& field) const {
  auto it = columns_.find(field);
  return it == columns_.end() ? std::vector<std::string>{} : it->second.order;
}

const std::vector<float>* SeriesTable::column(const std::string& field, const std::string& entity) const {
  auto it = columns_.find(field);
  if (it == columns_.end()) return nullptr;
  auto jt = it->second.by_entity.find(entity);
  return jt == it->second.by_entity.end() ? nullptr : &jt->second;
}

int64_t SeriesTable::row_at_or_before(double step) const {
  if (steps_.empty()) return -1;
  auto it = std::upper_bound(steps_.begin(), steps_.end(), step);
  if (it == steps_.begin()) return 0;
  return int64_t(it - steps_.begin()) - 1;
}

Downsampled downsample(const std::vector<double>& steps, const std::vector<const std::vector<float>*>& columns,
                       size_t begin, size_t end, size_t max_points) {
  Downsampled out;
  end = std::min(end, steps.size());
  if (begin >= end) {
    out.y.resize(columns.size());
    return out;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto value = [&](size_t c, size_t row) -> double { return columns[c] ? double((*columns[c])[row]) : nan; };
  const size_t n = end - begin;
  max_points = std::max<size_t>(max_points, 2);
  out.y.resize(columns.size());
  if (n <= max_points) {
    out.x.assign(steps.begin() + begin, steps.begin() + end);
    for (size_t c = 0; c < columns.size(); ++c)
      for (size_t r = begin; r < end; ++r) out.y[c].push_back(value(c, r));
    return out;
  }
  const size_t buckets = max_points / 2;
  for (size_t b = 0; b < buckets; ++b) {
    size_t lo = begin + n * b / buckets, hi = begin + n * (b + 1) / buckets;
    if (lo >= hi) continue;
    out.x.push_back(steps[lo]);
    out.x.push_back(steps[hi - 1]);
    for (size_t c = 0; c < columns.size(); ++c) {
      size_t imin = hi, imax = hi;
      for (size_t r = lo; r < hi; ++r) {
        double v = value(c, r);
        if (std::isnan(v)) continue;
        if (imin == hi || v < value(c, imin)) imin = r;
        if (imax == hi || v > value(c, imax)) imax = r;
      }
      if (imin == hi) {
        out.y[c].push_back(nan);
        out.y[c].push_back(nan);
      } else {
        out.y[c].push_back(value(c, std::min(imin, imax)));
        out.y[c].push_back(value(c, std::max(imin, imax)));
      }
    }
  }
  return out;
}

}  // namespace moescope::dashboard
