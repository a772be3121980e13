// precision.cpp: see precision.h.
#include "core/precision.h"

#include <cstdio>
#include <stdexcept>

namespace moescope {
namespace {

bool native_bf16(const PrecisionHardware& hw) { return hw.cuda ? hw.cuda_cc_major >= 8 : hw.cpu_native_bf16; }

// Native, and on a CPU not measured slower than fp32.
bool bf16_pays(const PrecisionHardware& hw) {
  return native_bf16(hw) && (hw.cuda || hw.cpu_bf16_speedup == 0 || hw.cpu_bf16_speedup >= kCpuBf16MinSpeedup);
}

std::string hardware_words(const PrecisionHardware& hw) {
  if (hw.cuda)
    return "CUDA compute capability " + std::to_string(hw.cuda_cc_major) + "." + std::to_string(hw.cuda_cc_minor) +
           (native_bf16(hw) ? " (native bf16)" : " (no native bf16: needs >= 8.0)");
  std::string s =
      "CPU " + (hw.cpu_isa.empty() ? std::string("of unknown ISA") : hw.cpu_isa) +
      (hw.cpu_native_bf16 ? " (native bf16: avx512_bf16/amx_bf16)" : " (no avx512_bf16/amx_bf16: bf16 is emulated)");
  if (hw.cpu_bf16_speedup > 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ", bf16 matmul measured %.2fx fp32 (bf16 needs >= %.1fx)", hw.cpu_bf16_speedup,
                  kCpuBf16MinSpeedup);
    s += buf;
  }
  return s;
}

}  // namespace

DtypeDecision decide_dtype(DType requested, const PrecisionHardware& hw) {
  DtypeDecision d;
  switch (requested) {
    case DType::kAuto:
      d.dtype = bf16_pays(hw) ? DType::kBf16 : DType::kFp32;
      d.reason = std::string("train.dtype auto -> ") + enum_name(d.dtype) + ": " + hardware_words(hw);
      break;
    case DType::kBf16:
      d.dtype = DType::kBf16;
      d.emulated_bf16 = !native_bf16(hw);
      d.reason = "train.dtype bf16 (as set): " + hardware_words(hw);
      break;
    case DType::kFp32:
      d.dtype = DType::kFp32;
      d.reason = "train.dtype fp32 (as set): " + hardware_words(hw);
      break;
  }
  return d;
}

}  // namespace moescope
