// precision.h: the compute-dtype policy behind train.dtype (torch-free, so it is testable from
// any feature set). "auto" picks bf16 only where the hardware runs bf16 matmuls natively:
// CUDA with compute capability >= 8.0, or a CPU with avx512_bf16 or amx_bf16. Elsewhere
// LibTorch emulates bf16 on the CPU and a training step is ~25-50x slower than in fp32, so
// "auto" picks fp32 there, and an explicit "bf16" still runs but carries a warning.
// On a CPU, native is necessary but not enough: "auto" also measures a bf16 and an fp32 matmul
// and keeps fp32 unless bf16 is at least kCpuBf16MinSpeedup times faster; that timing is taken
// once per machine and kept (core/probe_cache.h), so the choice does not change between runs
// with the load at start-up. (Measured on an
// AVX-512 BF16 Xeon VM: oneDNN's bf16 matmul ran at 0.6x OpenBLAS's fp32 one, and the demo
// trained at 4,632 tokens/s in bf16 against 6,000 in fp32.)
#pragma once
#include <string>

#include "core/config_enums.h"

namespace moescope {

struct PrecisionHardware {
  bool cuda = false;  // the run's device is CUDA
  int cuda_cc_major = 0, cuda_cc_minor = 0;
  bool cpu_native_bf16 = false;  // CpuFeatures::native_bf16()
  std::string cpu_isa = "";      // CpuFeatures::isa_level(), for the reason text
  double cpu_bf16_speedup = 0;   // measured bf16 / fp32 matmul throughput on the CPU; 0 = not measured
};

constexpr double kCpuBf16MinSpeedup = 1.2;

struct DtypeDecision {
  DType dtype = DType::kFp32;  // kBf16 or kFp32: never kAuto
  std::string reason;          // one line, logged at start
  bool emulated_bf16 = false;  // bf16 was asked for explicitly on hardware that emulates it
};

// requested: the parsed train.dtype (the strings are parsed once, at config load).
DtypeDecision decide_dtype(DType requested, const PrecisionHardware& hw);

}  // namespace moescope
