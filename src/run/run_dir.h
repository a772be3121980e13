// run_dir.h: a run directory on disk (torch-free; every layer that reads or writes runs uses
// it: train, scope, compress, dashboard, cli): the one spelling of its layout, and its
// config.json. Loading a run for use is train/loaded_run.h, opening one to train
// train/run_start.h, and the cli's any-kind loader cli/any_run.h.
//   RUN_DIR/config.json            the fully resolved config (JSON, FieldTable layout)
//   RUN_DIR/tokenizer.json (+ tokenizer.model for BPE)
//   RUN_DIR/metrics.jsonl          one JSON record per log interval / evaluation / event
//   RUN_DIR/alerts.jsonl           the collapse detector's alerts
//   RUN_DIR/tb/                    TensorBoard event files
//   RUN_DIR/checkpoints/latest/    newest checkpoint (train/checkpoint.h)
//   RUN_DIR/checkpoints/best/      best validation loss so far
// config.json: the fully resolved config, written when a run starts and read by every command
// that uses the run (train --resume, eval, generate, scope, compress). Format: the FieldTable
// JSON layout plus "moescope_config_version": 1.
#pragma once
#include <string>

#include "core/config.h"

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

inline constexpr int kRunConfigVersion = 1;

// Writes RUN_DIR/config.json atomically.
void write_run_config(const std::string& run_dir, Config& cfg);
// Reads RUN_DIR/config.json (unknown keys are errors naming the key) and validates it.
Config read_run_config(const std::string& run_dir);

}  // namespace moescope
