// cpu_features.cpp: see cpu_features.h.
#include "core/cpu_features.h"

#include <fstream>
#include <sstream>

#include "core/str_edit.h"

namespace moescope {

std::string CpuFeatures::isa_level() const {
  if (has("amx_bf16")) return "AMX";
  if (has("avx512_bf16")) return "AVX-512 BF16";
  if (has("avx512f")) return "AVX-512";
  if (has("avx2")) return "AVX2";
  return "SSE/other";
}

std::vector<std::string> CpuFeatures::notable_flags() const {
  std::vector<std::string> out;
  for (const char* f : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                        "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"})
    if (has(f)) out.emplace_back(f);
  return out;
}

CpuFeatures parse_cpuinfo(const std::string& text) {
  CpuFeatures c;
  std::istringstream in(text);
  std::string line;
  bool have_flags = false;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "processor") ++c.logical_cpus;
    else if (key == "model name" && c.model_name.empty()) c.model_name = value;
    else if (key == "flags" && !have_flags) {
      std::istringstream fs(value);
      std::string f;
      while (fs >> f) c.flags.insert(f);
      have_flags = true;
    }
  }
  if (c.model_name.empty()) c.model_name = "unknown";
  return c;
}

const CpuFeatures& host_cpu_features() {
  static const CpuFeatures features = [] {
    std::ifstream f("/proc/cpuinfo");
    std::stringstream ss;
    if (f) ss << f.rdbuf();
    return parse_cpuinfo(ss.str());
  }();
  return features;
}

}  // namespace moescope
