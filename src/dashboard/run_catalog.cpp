// run_catalog.cpp: discovering runs under a log directory (see run_catalog.h).
#include "dashboard/run_catalog.h"

#include <filesystem>
#include <stdexcept>

#include "dashboard/confined_file.h"
#include "run/run_dir.h"

namespace fs = std::filesystem;

namespace moescope::dashboard {
namespace {

// Whether `dir` is a run directory whose real path lies in `root` and, with `confine`, whose
// metrics file's real path does too.
bool run_inside(const std::string& root, const fs::path& dir, bool confine) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / kMetricsFile, ec)) return false;
  const fs::path canon_dir = fs::canonical(dir, ec);
  if (ec || !path_inside(root, canon_dir.string())) return false;
  if (!confine) return true;
  const fs::path canon = fs::canonical(dir / kMetricsFile, ec);
  return !ec && path_inside(root, canon.string());
}

}  // namespace

RunCatalog::RunCatalog(const std::string& logdir, RunCatalogConfig cfg) : cfg_(cfg) {
  std::error_code ec;
  fs::path canon = fs::canonical(logdir, ec);
  if (ec || !fs::is_directory(canon)) throw std::runtime_error("log directory '" + logdir + "' is not a directory");
  logdir_ = canon.string();
  cfg_.index.confine_to = cfg_.confine ? logdir_ : "";
  rescan();
}

void RunCatalog::rescan() {
  const fs::path root(logdir_);
  std::vector<std::pair<std::string, std::string>> found;  // id, dir
  std::error_code ec;
  if (run_inside(logdir_, root, cfg_.confine)) found.emplace_back(root.filename().string(), logdir_);
  fs::recursive_directory_iterator it, end;
  if (cfg_.max_depth > 0)
    it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != end; it.increment(ec)) {
    if (it.depth() + 1 >= cfg_.max_depth) it.disable_recursion_pending();
    std::error_code e2;
    if (!it->is_directory(e2)) continue;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || name == kCheckpointsDir || name == kTensorBoardDir) {
      it.disable_recursion_pending();
      continue;
    }
    if (!run_inside(logdir_, it->path(), cfg_.confine)) continue;
    found.emplace_back(fs::relative(it->path(), root, e2).generic_string(), it->path().string());
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, dir] : found)
    if (!runs_.count(id)) runs_.emplace(id, std::make_shared<RunIndex>(dir, cfg_.index));
}

std::vector<std::string> RunCatalog::update_all(bool* more) {
  std::vector<std::shared_ptr<RunIndex>> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, r] : runs_) runs.push_back(r);
  }
  std::vector<std::string> warnings;
  if (more) *more = false;
  for (auto& r : runs) {
    RunIndex::UpdateResult u;
    try {
      u = r->update();
    } catch (const std::exception& e) {
      warnings.push_back(e.what());
      continue;
    }
    warnings.insert(warnings.end(), u.warnings.begin(), u.warnings.end());
    if (more && u.more) *more = true;
  }
  return warnings;
}

std::vector<std::string> RunCatalog::ids() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto& [id, r] : runs_) out.push_back(id);
  return out;
}

std::shared_ptr<RunIndex> RunCatalog::find(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = runs_.find(id);
  return it == runs_.end() ? nullptr : it->second;
}

}  // namespace moescope::dashboard
