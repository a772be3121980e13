// run_layout.cpp: see run_layout.h.
#include "run/run_layout.h"

#include <filesystem>

namespace moescope {
namespace fs = std::filesystem;

std::string config_path(const std::string& r) { return (fs::path(r) / kConfigFile).string(); }
std::string metrics_path(const std::string& r) { return (fs::path(r) / kMetricsFile).string(); }
std::string alerts_path(const std::string& r) { return (fs::path(r) / kAlertsFile).string(); }
std::string tensorboard_dir(const std::string& r) { return (fs::path(r) / kTensorBoardDir).string(); }
std::string latest_dir(const std::string& r) { return (fs::path(r) / kCheckpointsDir / "latest").string(); }
std::string best_dir(const std::string& r) { return (fs::path(r) / kCheckpointsDir / "best").string(); }

}  // namespace moescope
