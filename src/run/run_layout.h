// run_layout.h: the one spelling of a run directory's layout (torch-free; every layer that
// reads or writes runs uses it: train, scope, compress, dashboard, cli).
//   RUN_DIR/config.json            the fully resolved config (JSON, FieldTable layout)
//   RUN_DIR/tokenizer.json (+ tokenizer.model for BPE)
//   RUN_DIR/metrics.jsonl          one JSON record per log interval / evaluation / event
//   RUN_DIR/alerts.jsonl           the collapse detector's alerts
//   RUN_DIR/tb/                    TensorBoard event files
//   RUN_DIR/checkpoints/latest/    newest checkpoint (train/checkpoint.h)
//   RUN_DIR/checkpoints/best/      best validation loss so far
#pragma once
#include <string>

namespace moescope {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kAlertsFile = "alerts.jsonl";
inline constexpr const char* kTensorBoardDir = "tb";
inline constexpr const char* kCheckpointsDir = "checkpoints";

std::string config_path(const std::string& run_dir);
std::string metrics_path(const std::string& run_dir);
std::string alerts_path(const std::string& run_dir);
std::string tensorboard_dir(const std::string& run_dir);
std::string latest_dir(const std::string& run_dir);
std::string best_dir(const std::string& run_dir);

}  // namespace moescope
