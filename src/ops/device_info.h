// device_info.h: what the compute device offers, measured or read from LibTorch: CUDA compute
// capability, the BLAS/oneDNN build, and matmul throughput (the peak that benchmarks and
// `moescope info` compare against). Torch stays out of this header.
#pragma once
#include <ostream>
#include <string>

#include "core/precision.h"

namespace moescope {

// device: "cpu" or "cuda" (resolved). Fills the CPU features and, for CUDA, device 0's capability;
// with measure_cpu_bf16, on a CPU with native bf16, also the bf16/fp32 matmul speedup
// (cpu_bf16_speedup: from the probe cache, or measured in about 0.6 s and stored there).
// Probe-cache warnings go to `log` (std::cerr when null).
PrecisionHardware precision_hardware(const std::string& device, bool measure_cpu_bf16 = false,
                                     std::ostream* log = nullptr);

// The bf16/fp32 matmul throughput ratio of this CPU at n = 512 (> 1: bf16 faster), behind
// train.dtype = auto. Measured once per machine and kept in the probe cache (core/probe_cache.h;
// key: CPU model, LibTorch version, intra-op threads), so every later run on the same machine
// takes the same decision however busy the CPU is when it starts. A fresh measurement takes the
// best of 3 alternating timings of each dtype (a busy moment slows the sample it falls in, not
// the best one). cache_path "" measures without the cache. Warnings (a damaged cache file, an
// unwritable one) go to `log`; they never stop the run.
double cpu_bf16_speedup(std::ostream& log, const std::string& cache_path);

// Square n x n x n matmul throughput in GFLOP/s (2 n^3 per product), dtype "fp32" or "bf16",
// on `device`, timed for at least min_seconds after one warm-up product.
double matmul_gflops(const std::string& dtype, int64_t n, double min_seconds, const std::string& device = "cpu");

// How many times slower a bf16 matmul is than an fp32 one here (n = 512; >1 = bf16 slower).
double measured_bf16_slowdown(const std::string& device = "cpu");

// The BLAS LibTorch was built with and whether oneDNN (MKLDNN) is in, from at::show_config().
std::string blas_summary();
// "name (cc M.m, X GiB)" per CUDA device; empty when none.
std::string cuda_devices_summary();

}  // namespace moescope
