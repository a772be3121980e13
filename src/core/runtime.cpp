// runtime.cpp: see runtime.h.
#include "core/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

#include <torch/torch.h>

namespace moescope {

void init_process(int argc, char** argv) {
  (void)argc;
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("MOESCOPE_NO_REEXEC")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("MOESCOPE_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
  }
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // the 64-bit maximum
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  init_runtime_threads();
}

void init_runtime_threads() {
  if (std::getenv("OMP_NUM_THREADS")) return;
  unsigned n = std::thread::hardware_concurrency();
  if (n > 0) at::set_num_threads(static_cast<int>(n));
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
