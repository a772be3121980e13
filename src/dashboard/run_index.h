// run_index.h: the dashboard's incremental, in-memory index of one run directory.
//
// A run is a training run (metrics.jsonl with train/eval/remediation records, plus
// alerts.jsonl) or a compression run (compress/compress_summary records). update() parses
// only what was appended since the last call and folds it into compact columns:
//   train   : record-level numbers (loss, lr, ...) and per-layer scalars of `moe` (entity =
//             layer id), `saturation` fields as saturation_<name>, dead_count per layer;
//   eval    : record-level numbers (val_loss, ...) and per-layer scalars;
//   compress: record-level numbers and every numeric field of each group (entity = group).
// Per-expert vectors (load, bias, dead, coactivation, ...) are not kept: the byte range of
// every train record is, and heatmaps re-read the one record they need (record_at()).
//
// Thread safety: one thread calls update(); any number read under read_lock().
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dashboard/jsonl_tail.h"
#include "dashboard/series_table.h"

namespace moescope::dashboard {

struct RunIndexConfig {
  size_t max_bytes_per_update = 32u << 20;  // parse at most this much per update() call
  size_t max_kept_warnings = 50;
  std::string confine_to;  // a canonical directory the logs' real paths must lie in; "" = none
};

class RunIndex {
 public:
  explicit RunIndex(std::string run_dir, RunIndexConfig cfg = {});

  struct UpdateResult {
    size_t new_records = 0;
    bool restarted = false;
    bool more = false;  // a size cap was hit; call again
    std::vector<std::string> warnings;
  };
  // Reads what was appended to metrics.jsonl and alerts.jsonl. Throws std::runtime_error
  // when an existing file cannot be read.
  UpdateResult update();
  // Calls update() until everything present has been read.
  void update_all();

  std::shared_lock<std::shared_mutex> read_lock() const { return std::shared_lock(mu_); }

  // --- read under read_lock() ---
  const std::string& dir() const { return dir_; }
  std::string kind() const;  // "train", "compress" or "empty"
  const SeriesTable& train() const { return train_; }
  const SeriesTable& eval() const { return eval_; }
  const SeriesTable& compress() const { return compress_; }
  const std::vector<int>& layers() const { return layers_; }
  int experts() const { return experts_; }
  const std::vector<nlohmann::json>& alerts() const { return alerts_; }
  const std::vector<nlohmann::json>& remediations() const { return remediations_; }
  const nlohmann::json& compress_summary() const { return compress_summary_; }
  const std::vector<size_t>& coactivation_rows() const { return coact_rows_; }
  uint64_t version() const { return version_; }  // bumps whenever something was added
  size_t records() const { return records_; }
  const std::vector<std::string>& recent_warnings() const { return warnings_; }
  size_t warning_count() const { return warning_count_; }

  // The full train record at `row` of train(), re-read from disk. Throws on I/O errors and when
  // the line there is no longer that record (its step differs: the log was rewritten).
  nlohmann::json record_at(size_t row) const;
  // Any thread: the next update() reads metrics.jsonl again from the start (after record_at
  // found the file rewritten under the index).
  void request_reindex() const { reindex_ = true; }

 private:
  void reset();
  void ingest(const TailLine& line, std::vector<std::string>& warnings);
  void ingest_train(const TailLine& line);
  void ingest_layers(SeriesTable& table, const nlohmann::json& moe);

  std::string dir_;
  RunIndexConfig cfg_;
  std::mutex update_mu_;
  mutable std::atomic<bool> reindex_{false};
  mutable std::shared_mutex mu_;
  JsonlTail metrics_tail_, alerts_tail_;

  SeriesTable train_, eval_, compress_;
  struct LineRef {
    uint64_t offset;
    uint32_t length;
  };
  std::vector<LineRef> train_lines_;
  std::vector<size_t> coact_rows_;
  std::vector<int> layers_;
  std::set<int> layer_set_;
  int experts_ = 0;
  std::vector<nlohmann::json> alerts_, remediations_;
  nlohmann::json compress_summary_;
  uint64_t version_ = 0;
  size_t records_ = 0;
  std::vector<std::string> warnings_;
  size_t warning_count_ = 0;
};

}  // namespace moescope::dashboard
