// run_catalog.h: the runs under a log directory, each with its RunIndex.
//
// A run is any directory at most `max_depth` levels below the log directory that holds a
// metrics.jsonl (the log directory itself counts too). Its id is its path relative to the
// log directory ("seed-iter1", "sweeps/a"), or the log directory's own name. Runs are only
// ever looked up by id in this catalog, never by joining a request's text onto a path, and
// directories or metrics files that resolve outside the log directory (symlinks) are ignored.
// With `confine` (the dashboard), every file a run reads is also checked when it is opened
// (confined_file.h), so nothing outside the log directory can be served.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dashboard/run_index.h"

namespace moescope::dashboard {

struct RunCatalogConfig {
  int max_depth = 3;    // 0: only the log directory itself
  bool confine = true;  // read only files whose real path lies inside the log directory
  RunIndexConfig index;
};

class RunCatalog {
 public:
  // Throws std::runtime_error when `logdir` is not a directory.
  explicit RunCatalog(const std::string& logdir, RunCatalogConfig cfg = {});

  // Looks for new run directories (cheap; call it on every poll).
  void rescan();
  // Updates every run's index once; returns the warnings produced.
  std::vector<std::string> update_all(bool* more = nullptr);

  std::vector<std::string> ids() const;
  // nullptr for an unknown id.
  std::shared_ptr<RunIndex> find(const std::string& id) const;
  const std::string& logdir() const { return logdir_; }
  // The directory every file read must lie in: logdir(), or "" when not confined.
  const std::string& root() const { return cfg_.index.confine_to; }

 private:
  std::string logdir_;  // canonical
  RunCatalogConfig cfg_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<RunIndex>> runs_;
};

}  // namespace moescope::dashboard
