// hf_fixtures.h: the Hugging Face model fixtures (tests/fixtures/hf/<name>), made by
// transformers itself (scripts/make_hf_fixtures.py; docs/hf.md "Ground truth").
#pragma once
#include <string>
#include <vector>

#include "train_test_util.h"

namespace moescope::testing {

inline const std::vector<std::string>& hf_fixture_names() {
  static const std::vector<std::string> n = {"deepseek_v3", "deepseek_v3_fp8", "deepseek_v2",   "qwen2_moe",
                                             "qwen3_moe",   "mixtral",         "mixtral_fused", "olmoe"};
  return n;
}

inline std::string hf_fixture_dir(const std::string& name) { return source_path("tests/fixtures/hf/" + name); }

}  // namespace moescope::testing
