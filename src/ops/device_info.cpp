// device_info.cpp: see device_info.h.
#include "ops/device_info.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <vector>
#include <sstream>

#include <torch/torch.h>

#include "core/blas_core.h"
#include "core/cpu_features.h"
#include "core/probe_cache.h"

#if defined(MOESCOPE_WITH_CUDA)
#include <ATen/cuda/CUDAContext.h>
#endif

namespace moescope {
namespace {

at::ScalarType scalar(const std::string& dtype) { return dtype == "bf16" ? at::kBFloat16 : at::kFloat; }

void sync(const torch::Device& dev) {
#if defined(MOESCOPE_WITH_CUDA)
  if (dev.is_cuda()) torch::cuda::synchronize();
#else
  (void)dev;
#endif
}

}  // namespace

PrecisionHardware precision_hardware(const std::string& device, bool measure_cpu_bf16, std::ostream* log) {
  PrecisionHardware hw;
  const auto& cpu = host_cpu_features();
  hw.cpu_native_bf16 = cpu.native_bf16();
  hw.cpu_isa = cpu.isa_level();
  if (device != "cuda" && measure_cpu_bf16 && hw.cpu_native_bf16)
    hw.cpu_bf16_speedup = cpu_bf16_speedup(log ? *log : std::cerr, default_probe_cache_path());
  if (device == "cuda") {
    hw.cuda = true;
#if defined(MOESCOPE_WITH_CUDA)
    const auto* p = at::cuda::getDeviceProperties(0);
    hw.cuda_cc_major = p->major;
    hw.cuda_cc_minor = p->minor;
#endif
  }
  return hw;
}

double matmul_gflops(const std::string& dtype, int64_t n, double min_seconds, const std::string& device) {
  torch::NoGradGuard ng;
  const torch::Device dev(device == "cuda" ? torch::kCUDA : torch::kCPU);
  auto opts = torch::TensorOptions().dtype(scalar(dtype)).device(dev);
  auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts), c = torch::empty({n, n}, opts);
  at::mm_out(c, a, b);  // warm-up (allocations, oneDNN primitive creation)
  sync(dev);
  int64_t reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double dt = 0;
  do {
    at::mm_out(c, a, b);
    ++reps;
    if (reps % 4 == 0 || dev.is_cpu()) sync(dev);
    dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (dt < min_seconds);
  sync(dev);
  dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * static_cast<double>(n) * n * n * static_cast<double>(reps) / dt / 1e9;
}

double measured_bf16_slowdown(const std::string& device) {
  const double f32 = matmul_gflops("fp32", 512, 0.1, device);
  const double b16 = matmul_gflops("bf16", 512, 0.1, device);
  return f32 / std::max(b16, 1e-9);
}

double cpu_bf16_speedup(std::ostream& log, const std::string& cache_path) {
  const std::string key =
      probe_key("bf16_matmul_speedup_512", host_cpu_features().model_name, TORCH_VERSION, at::get_num_threads());
  const ProbeLookup got = probe_cache_get(cache_path, key);
  if (!got.warning.empty()) log << "warning: " << got.warning << "\n";
  if (got.value) return *got.value;
  double f32 = 0, b16 = 0;
  std::vector<double> samples;
  for (int i = 0; i < 3; ++i) {
    const double f = matmul_gflops("fp32", 512, 0.1, "cpu"), b = matmul_gflops("bf16", 512, 0.1, "cpu");
    samples.push_back(b / std::max(f, 1e-9));
    f32 = std::max(f32, f);
    b16 = std::max(b16, b);
  }
  const double speedup = b16 / std::max(f32, 1e-9);
  const std::string w = probe_cache_put(cache_path, key, speedup, samples);
  if (!w.empty()) log << "warning: " << w << "\n";
  return speedup;
}

std::string blas_summary() {
  const std::string cfg = at::show_config();
  std::string blas = "unknown";
  const auto p = cfg.find("BLAS_INFO=");
  if (p != std::string::npos) blas = cfg.substr(p + 10, cfg.find_first_of(",\n", p) - p - 10);
  std::ostringstream s;
  const std::string ob = openblas_core_name();
  if (!ob.empty()) {
    s << openblas_config() << ", kernels " << ob;
    if (const char* fb = std::getenv("MOESCOPE_OPENBLAS_FALLBACK"))
      s << " (set by moescope: OpenBLAS does not know this CPU and picked " << fb << ")";
    else if (const char* ct = std::getenv("OPENBLAS_CORETYPE"))
      s << " (OPENBLAS_CORETYPE=" << ct << " from the environment)";
  } else {
    s << "BLAS " << blas;
  }
  s << (at::hasMKLDNN() ? "; oneDNN (bf16 matmuls)" : "; no oneDNN");
  return s.str();
}

std::string cuda_devices_summary() {
  std::ostringstream s;
#if defined(MOESCOPE_WITH_CUDA)
  for (int i = 0; i < static_cast<int>(torch::cuda::device_count()); ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    if (i) s << "; ";
    s << p->name << " (cc " << p->major << "." << p->minor << ", " << (p->totalGlobalMem >> 30) << " GiB)";
  }
#endif
  return s.str();
}

}  // namespace moescope
