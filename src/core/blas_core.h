// blas_core.h: which OpenBLAS kernel set runs the fp32 matmuls, and the fix when OpenBLAS does
// not know this CPU (torch-free).
//
// Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels by CPU model number. A newer model
// it does not know falls back to "Prescott", the SSE3 kernels: on an Emerald Rapids Xeon (family
// 6, model 207, AVX-512 BF16) every fp32 matmul of moescope ran the SSE3 sgemm. OPENBLAS_CORETYPE,
// read once when the library loads, selects a kernel set by name; init_process() sets it (and
// re-executes) when the detected core is such a fallback but the CPU's features say better, and
// leaves any OPENBLAS_CORETYPE the user (or the machine) set alone.
#pragma once
#include <string>

#include "core/cpu_features.h"

namespace moescope {

// OpenBLAS's name for the kernel set in use ("Cooperlake", "Haswell", "Prescott", ...); empty
// when the BLAS in this process is not OpenBLAS.
std::string openblas_core_name();
// "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." (openblas_get_config); empty when not OpenBLAS.
std::string openblas_config();

// The OPENBLAS_CORETYPE to force, or "" to keep what OpenBLAS picked: only when `detected` is a
// pre-AVX2 fallback core while the CPU has AVX2+FMA ("Haswell") or AVX-512 F/BW/VL/DQ ("SkylakeX").
std::string openblas_core_override(const CpuFeatures& cpu, const std::string& detected);

}  // namespace moescope
