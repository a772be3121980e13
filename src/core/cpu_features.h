// cpu_features.h: what this CPU can do, read from /proc/cpuinfo (torch-free).
// Only the features that change moescope's choices are named: native bf16 (avx512_bf16,
// amx_bf16) decides train.dtype = "auto"; the rest is printed by `moescope info`.
#pragma once
#include <set>
#include <string>
#include <vector>

namespace moescope {

struct CpuFeatures {
  std::string model_name;       // "Intel(R) Xeon(R) ..." ("unknown" when not given)
  int logical_cpus = 0;         // "processor" entries
  std::set<std::string> flags;  // the first processor's flags

  bool has(const std::string& flag) const { return flags.count(flag) != 0; }
  // avx512_bf16 or amx_bf16: bf16 matmuls run in hardware (oneDNN), not emulated.
  bool native_bf16() const { return has("avx512_bf16") || has("amx_bf16"); }
  // The vector ISA level in words: "AMX", "AVX-512 BF16", "AVX-512", "AVX2", "SSE/other".
  std::string isa_level() const;
  // The flags of interest that are present, in a fixed order (avx2, fma, avx512f, ...).
  std::vector<std::string> notable_flags() const;
};

// Parses the text of /proc/cpuinfo (x86 "flags" lines; other architectures give no flags).
CpuFeatures parse_cpuinfo(const std::string& text);
// Reads /proc/cpuinfo once per process (cached). Missing file: empty features.
const CpuFeatures& host_cpu_features();

}  // namespace moescope
