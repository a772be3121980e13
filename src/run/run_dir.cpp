// run_dir.cpp: see run_dir.h.
#include "run/run_dir.h"

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/json_guard.h"

namespace moescope {
namespace fs = std::filesystem;

std::string config_path(const std::string& r) { return (fs::path(r) / kConfigFile).string(); }
std::string metrics_path(const std::string& r) { return (fs::path(r) / kMetricsFile).string(); }
std::string alerts_path(const std::string& r) { return (fs::path(r) / kAlertsFile).string(); }
std::string tensorboard_dir(const std::string& r) { return (fs::path(r) / kTensorBoardDir).string(); }
std::string latest_dir(const std::string& r) { return (fs::path(r) / kCheckpointsDir / "latest").string(); }
std::string best_dir(const std::string& r) { return (fs::path(r) / kCheckpointsDir / "best").string(); }

void write_run_config(const std::string& run_dir, Config& cfg) {
  nlohmann::json j = cfg.fields().to_json();
  j["moescope_config_version"] = kRunConfigVersion;
  write_file_atomic(config_path(run_dir), j.dump(2) + "\n");
}

Config read_run_config(const std::string& run_dir) {
  const std::string p = config_path(run_dir);
  if (!fs::exists(p)) throw std::runtime_error(p + ": not found (is '" + run_dir + "' a moescope run directory?)");
  nlohmann::json j = parse_json_guarded(read_file(p), p);
  const auto version = j.is_object() ? j.find("moescope_config_version") : j.end();
  if (!j.is_object() || version == j.end() || *version != kRunConfigVersion)  // a string, too, is an unknown version
    throw std::runtime_error(p + ": unknown config version (expected moescope_config_version " +
                             std::to_string(kRunConfigVersion) + ")");
  j.erase("moescope_config_version");
  // Retired settings, dropped from an older run's config.json: scope.starved_share (an absolute
  // share of the slots; starvation is relative to 1/E since issue 28, scope.starved_ratio,
  // docs/metrics.md). The run's other scope settings are kept as written.
  if (auto s = j.find("scope"); s != j.end() && s->is_object()) s->erase("starved_share");
  Config c;
  c.fields().from_json(j, p);
  c.validate();
  return c;
}

}  // namespace moescope
