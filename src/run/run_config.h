// run_config.h: a run's config.json (torch-free): the fully resolved config, written when a run
// starts and read by every command that uses the run (train --resume, eval, generate, scope,
// compress). Format: the FieldTable JSON layout plus "moescope_config_version": 1.
#pragma once
#include <string>

#include "core/config.h"

namespace moescope {

inline constexpr int kRunConfigVersion = 1;

// Writes RUN_DIR/config.json atomically.
void write_run_config(const std::string& run_dir, Config& cfg);
// Reads RUN_DIR/config.json (unknown keys are errors naming the key) and validates it.
Config read_run_config(const std::string& run_dir);

}  // namespace moescope
