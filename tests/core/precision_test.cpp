// precision_test.cpp: train.dtype = "auto" from given feature sets (no dependence on the host),
// explicit overrides, the emulated-bf16 warning flag, and /proc/cpuinfo parsing.
#include <gtest/gtest.h>

#include "core/cpu_features.h"
#include "core/blas_core.h"
#include "core/precision.h"
#include "core/threads.h"

using namespace moescope;

namespace {
PrecisionHardware cpu(bool native) {
  PrecisionHardware hw;
  hw.cpu_native_bf16 = native;
  hw.cpu_isa = native ? "AVX-512 BF16" : "AVX2";
  return hw;
}
PrecisionHardware gpu(int major, int minor) {
  PrecisionHardware hw = cpu(false);
  hw.cuda = true;
  hw.cuda_cc_major = major;
  hw.cuda_cc_minor = minor;
  return hw;
}
}  // namespace

TEST(Precision, AutoPicksBf16OnlyWhereNative) {
  EXPECT_EQ(decide_dtype(DType::kAuto, cpu(false)).dtype, DType::kFp32);
  EXPECT_EQ(decide_dtype(DType::kAuto, cpu(true)).dtype, DType::kBf16);
  EXPECT_EQ(decide_dtype(DType::kAuto, gpu(7, 5)).dtype, DType::kFp32);  // T4: no native bf16
  EXPECT_EQ(decide_dtype(DType::kAuto, gpu(8, 0)).dtype, DType::kBf16);  // A100
  EXPECT_EQ(decide_dtype(DType::kAuto, gpu(9, 0)).dtype, DType::kBf16);  // H100/H200
  // A CUDA device decides on its own, whatever the host CPU has.
  PrecisionHardware old_gpu_new_cpu = gpu(7, 0);
  old_gpu_new_cpu.cpu_native_bf16 = true;
  EXPECT_EQ(decide_dtype(DType::kAuto, old_gpu_new_cpu).dtype, DType::kFp32);
  for (bool native : {false, true}) EXPECT_FALSE(decide_dtype(DType::kAuto, cpu(native)).emulated_bf16);
}

// On a CPU, native bf16 is necessary but not enough: a measured bf16 matmul that is not clearly
// faster than the fp32 one keeps fp32 (CUDA decides by capability alone).
TEST(Precision, AutoKeepsFp32WhenNativeBf16MeasuresSlower) {
  PrecisionHardware hw = cpu(true);
  hw.cpu_bf16_speedup = 0.6;
  const auto slow = decide_dtype(DType::kAuto, hw);
  EXPECT_EQ(slow.dtype, DType::kFp32);
  EXPECT_NE(slow.reason.find("0.60x"), std::string::npos) << slow.reason;
  hw.cpu_bf16_speedup = 2.0;
  EXPECT_EQ(decide_dtype(DType::kAuto, hw).dtype, DType::kBf16);
  hw.cpu_bf16_speedup = 0.6;
  EXPECT_EQ(decide_dtype(DType::kBf16, hw).dtype, DType::kBf16);  // an explicit choice is kept
  EXPECT_FALSE(decide_dtype(DType::kBf16, hw).emulated_bf16);
  PrecisionHardware g = gpu(9, 0);
  g.cpu_bf16_speedup = 0.5;  // the host CPU's figure does not decide for a GPU
  EXPECT_EQ(decide_dtype(DType::kAuto, g).dtype, DType::kBf16);
}

TEST(Precision, ReasonNamesTheHardware) {
  const auto d = decide_dtype(DType::kAuto, cpu(false));
  EXPECT_NE(d.reason.find("auto -> fp32"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("AVX2"), std::string::npos) << d.reason;
  EXPECT_NE(decide_dtype(DType::kAuto, gpu(9, 0)).reason.find("9.0"), std::string::npos);
}

TEST(Precision, ExplicitChoicesAreKeptAndEmulatedBf16IsFlagged) {
  EXPECT_EQ(decide_dtype(DType::kFp32, cpu(true)).dtype, DType::kFp32);
  const auto slow = decide_dtype(DType::kBf16, cpu(false));
  EXPECT_EQ(slow.dtype, DType::kBf16);
  EXPECT_TRUE(slow.emulated_bf16);
  EXPECT_FALSE(decide_dtype(DType::kBf16, cpu(true)).emulated_bf16);
  EXPECT_FALSE(decide_dtype(DType::kFp32, cpu(false)).emulated_bf16);
  EXPECT_TRUE(decide_dtype(DType::kBf16, gpu(7, 5)).emulated_bf16);
  EXPECT_FALSE(decide_dtype(DType::kBf16, gpu(8, 6)).emulated_bf16);
}

// The spelling is checked once, where the config is parsed; the policy sees only the enum.
TEST(Precision, UnknownDtypeIsAnErrorAtParse) {
  try {
    parse_enum_or_throw<DType>("train.dtype", "fp16");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fp16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train.dtype"), std::string::npos) << e.what();
  }
}

TEST(CpuFeatures, ParsesCpuinfo) {
  const std::string avx2 =
      "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n\n"
      "processor\t: 1\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n";
  const auto a = parse_cpuinfo(avx2);
  EXPECT_EQ(a.logical_cpus, 2);
  EXPECT_EQ(a.model_name, "AMD EPYC 7B12");
  EXPECT_TRUE(a.has("avx2"));
  EXPECT_FALSE(a.native_bf16());
  EXPECT_EQ(a.isa_level(), "AVX2");
  const auto b = parse_cpuinfo("processor : 0\nflags : avx2 avx512f avx512_bf16\n");
  EXPECT_TRUE(b.native_bf16());
  EXPECT_EQ(b.isa_level(), "AVX-512 BF16");
  EXPECT_EQ(b.model_name, "unknown");
  EXPECT_TRUE(parse_cpuinfo("processor : 0\nflags : avx2 amx_tile amx_bf16\n").native_bf16());
  EXPECT_EQ(parse_cpuinfo("").logical_cpus, 0);
}

// OpenBLAS falls back to SSE3 "Prescott" kernels on CPU models it does not know (seen on an
// Emerald Rapids Xeon); the override names a kernel set the CPU's features support, and only then.
TEST(BlasCore, OverrideOnlyReplacesAFallbackCore) {
  const auto avx512 =
      parse_cpuinfo("processor : 0\nflags : avx avx2 fma avx512f avx512bw avx512vl avx512dq avx512_bf16\n");
  const auto avx2 = parse_cpuinfo("processor : 0\nflags : avx avx2 fma\n");
  const auto sse = parse_cpuinfo("processor : 0\nflags : sse2 sse3\n");
  EXPECT_EQ(openblas_core_override(avx512, "Prescott"), "SkylakeX");
  EXPECT_EQ(openblas_core_override(avx2, "Prescott"), "Haswell");
  EXPECT_EQ(openblas_core_override(avx2, "Nehalem"), "Haswell");
  EXPECT_EQ(openblas_core_override(sse, "Prescott"), "");       // nothing better to pick
  EXPECT_EQ(openblas_core_override(avx512, "Cooperlake"), "");  // a known core is kept
  EXPECT_EQ(openblas_core_override(avx2, "Zen"), "");
  EXPECT_EQ(openblas_core_override(avx512, ""), "");  // not OpenBLAS
}

TEST(Threads, RulePrecedenceAndSizes) {
  EXPECT_EQ(choose_train_threads(3, "2", 100.0, 8).threads, 3);     // train.threads first
  EXPECT_EQ(choose_train_threads(0, "2", 1.0, 8).threads, 2);       // then OMP_NUM_THREADS
  EXPECT_EQ(choose_train_threads(0, nullptr, 6.9, 2).threads, 1);   // demo-sized step
  EXPECT_EQ(choose_train_threads(0, nullptr, 68.0, 2).threads, 2);  // REF-CPU-sized step
  EXPECT_EQ(choose_train_threads(0, "", 68.0, 4).threads, 4);       // an empty variable is unset
  const auto c = choose_train_threads(0, nullptr, 6.9, 2);
  EXPECT_NE(c.reason.find("6.9 GFLOP"), std::string::npos) << c.reason;
}
