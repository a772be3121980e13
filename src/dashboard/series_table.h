// series_table.h: a compact column store of numeric time series (one row per log record),
// and min/max downsampling of its columns for the dashboard's charts.
//
// Columns are keyed by (field, entity): the entity is "" for record-level values (loss, lr),
// the layer id for per-layer values ("1", "2", ...) or a group name for compression runs
// ("layer1.gate"). Values are floats, NaN where a record lacks the field, so a column that
// first appears late is back-filled with NaN and every column has one value per row.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moescope::dashboard {

class SeriesTable {
 public:
  // Starts a new row at `step`; values are then set with set() for that row only.
  void add_row(double step);
  void set(const std::string& field, const std::string& entity, double value);

  size_t rows() const { return steps_.size(); }
  const std::vector<double>& steps() const { return steps_; }
  bool has(const std::string& field) const { return columns_.count(field) != 0; }
  // Field names, and the entities one field has (in first-seen order).
  std::vector<std::string> fields() const;
  std::vector<std::string> entities(const std::string& field) const;
  // The column, or nullptr when absent.
  const std::vector<float>* column(const std::string& field, const std::string& entity) const;
  // Index of the last row with step <= `step` (0 when `step` precedes every row); -1 if empty.
  int64_t row_at_or_before(double step) const;

 private:
  struct Field {
    std::vector<std::string> order;
    std::map<std::string, std::vector<float>> by_entity;
  };
  std::vector<double> steps_;
  std::map<std::string, Field> columns_;
};

struct Downsampled {
  std::vector<double> x;
  std::vector<std::vector<double>> y;  // one per requested column; NaN where missing
};

// Downsamples rows [begin, end) of several columns onto one shared x axis of at most
// `max_points` points. Short ranges are returned as they are. Otherwise rows are cut into
// max_points/2 buckets and each bucket yields two points (its first and last step); each
// column puts its bucket minimum and maximum there, in the order they occurred, so spikes
// survive downsampling. Columns may be nullptr (all NaN).
Downsampled downsample(const std::vector<double>& steps, const std::vector<const std::vector<float>*>& columns,
                       size_t begin, size_t end, size_t max_points);

}  // namespace moescope::dashboard
