// blas_core.cpp: see blas_core.h.
#include "core/blas_core.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>

namespace moescope {
namespace {

template <class Fn>
Fn find_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string openblas_core_name() {
  using Fn = char* (*)();
  auto f = find_symbol<Fn>("openblas_get_corename");
  const char* s = f ? f() : nullptr;
  return s ? std::string(s) : std::string();
}

std::string openblas_config() {
  using Fn = char* (*)();
  auto f = find_symbol<Fn>("openblas_get_config");
  const char* s = f ? f() : nullptr;
  return s ? std::string(s) : std::string();
}

std::string openblas_core_override(const CpuFeatures& cpu, const std::string& detected) {
  if (detected.empty()) return "";
  // OpenBLAS's x86-64 cores without AVX2 kernels: what an unknown newer CPU falls back to.
  static const char* kOld[] = {"prescott",   "core2",     "penryn", "dunnington",  "nehalem",   "atom",   "katmai",
                               "coppermine", "northwood", "banias", "sandybridge", "bulldozer", "unknown"};
  const std::string d = lower(detected);
  if (std::none_of(std::begin(kOld), std::end(kOld), [&](const char* o) { return d == o; })) return "";
  const bool avx512 = cpu.has("avx512f") && cpu.has("avx512bw") && cpu.has("avx512vl") && cpu.has("avx512dq");
  if (avx512) return "SkylakeX";
  if (cpu.has("avx2") && cpu.has("fma")) return d == "sandybridge" || d == "bulldozer" ? "" : "Haswell";
  return "";
}

}  // namespace moescope
