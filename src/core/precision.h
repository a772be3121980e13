// precision.h: the compute-dtype policy behind train.dtype (torch-free, so it is testable from
// any feature set). "auto" picks bf16 only where the hardware runs bf16 matmuls natively:
// CUDA with compute capability >= 8.0, or a CPU with avx512_bf16 or amx_bf16. Elsewhere
// LibTorch emulates bf16 on the CPU and a training step is ~25-50x slower than in fp32, so
// "auto" picks fp32 there, and an explicit "bf16" still runs but carries a warning.
#pragma once
#include <string>

namespace moescope {

struct PrecisionHardware {
  bool cuda = false;              // the run's device is CUDA
  int cuda_cc_major = 0, cuda_cc_minor = 0;
  bool cpu_native_bf16 = false;   // CpuFeatures::native_bf16()
  std::string cpu_isa = "";       // CpuFeatures::isa_level(), for the reason text
};

struct DtypeDecision {
  std::string dtype;              // "bf16" or "fp32": never "auto"
  std::string reason;             // one line, logged at start
  bool emulated_bf16 = false;     // bf16 was asked for explicitly on hardware that emulates it
};

// requested: "auto", "bf16" or "fp32" (anything else throws std::invalid_argument).
DtypeDecision decide_dtype(const std::string& requested, const PrecisionHardware& hw);

}  // namespace moescope
