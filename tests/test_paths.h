// test_paths.h: torch-free helpers shared by every test binary: files of the source tree and the
// tiny preset every test starts from.
#pragma once
#include <string>
#include <vector>

#include "core/config.h"

namespace moescope::testing {

inline std::string source_path(const std::string& rel) { return std::string(MOESCOPE_SOURCE_DIR) + "/" + rel; }

// The tiny preset every test starts from, with optional --set style overrides.
inline Config tiny_config(const std::vector<std::string>& sets = {}) {
  return load_config(source_path("configs/tiny.toml"), sets);
}

}  // namespace moescope::testing
