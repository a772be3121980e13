// runtime.cpp: see runtime.h.
#include "ops/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <torch/torch.h>

#include "core/blas_core.h"
#include "core/cpu_features.h"

namespace moescope {

void init_process(int argc, char** argv) {
  (void)argc;
  // Both settings are read only when the libraries load, hence the one re-execution.
  if (!std::getenv("MOESCOPE_NO_REEXEC")) {
    bool reexec = false;
    if (!std::getenv("OMP_WAIT_POLICY")) {
      setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
      reexec = true;
    }
    if (!std::getenv("OPENBLAS_CORETYPE")) {
      const std::string core = openblas_core_override(host_cpu_features(), openblas_core_name());
      if (!core.empty()) {
        setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
        setenv("MOESCOPE_OPENBLAS_FALLBACK", openblas_core_name().c_str(), 1);  // for `moescope info`
        reexec = true;
      }
    }
    if (reexec) {
      setenv("MOESCOPE_NO_REEXEC", "1", 1);
      execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
    }
  }
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the 64-bit maximum
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  init_runtime_threads();
}

namespace {
std::string g_thread_rule = "LibTorch default";
}  // namespace

void set_compute_threads(int n) {
  if (n < 1) n = 1;
  at::set_num_threads(n);
  // OpenBLAS (Debian's libopenblas0-pthread behind libblas.so.3) has a pool of its own; found
  // at run time so that any other BLAS still works.
  using SetThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

std::string thread_rule_description() { return g_thread_rule; }

void init_runtime_threads() {
  if (const char* e = std::getenv("OMP_NUM_THREADS")) {
    g_thread_rule = std::string("OMP_NUM_THREADS=") + e;
    set_compute_threads(std::max(1, std::atoi(e)));
    return;
  }
  unsigned n = std::thread::hardware_concurrency();
  if (n > 0) set_compute_threads(static_cast<int>(n));
  g_thread_rule = "all " + std::to_string(n) + " hardware threads (default; OMP_NUM_THREADS overrides)";
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

std::string resolve_device(const std::string& requested) {
  if (requested == "cpu") return "cpu";
  if (requested == "cuda" || requested == "auto") {
    if (torch::cuda::is_available()) return "cuda";
    if (requested == "cuda") throw std::invalid_argument("device 'cuda' requested but CUDA is not available");
    return "cpu";
  }
  throw std::invalid_argument("device '" + requested + "': must be cpu, cuda or auto");
}

}  // namespace moescope
