// backend.cpp: see backend.h.
#include "dist/backend.h"

#include <stdexcept>

#include "dist/nccl_build.h"

namespace moescope::dist {

const char* backend_name(Backend b) { return b == Backend::kNccl ? "nccl" : "gloo"; }

bool nccl_compiled() {
#ifdef MOESCOPE_NCCL
  return true;
#else
  return false;
#endif
}

Backend backend_for_device(const std::string& device, bool have_nccl) {
  const std::string kind = device.substr(0, device.find(':'));
  if (kind == "cpu") return Backend::kGloo;
  if (kind == "cuda") {
    if (have_nccl) return Backend::kNccl;
    throw std::runtime_error("a multi-process run on device '" + device +
                             "' needs NCCL, which this build lacks: build against a CUDA LibTorch >= 2.4 "
                             "(-DMOESCOPE_TORCH_WHEEL=... -DMOESCOPE_TORCH_CUDA=ON, or the CUDA PyTorch's "
                             "TorchConfig.cmake), or train on the CPU over Gloo (train.device=cpu)");
  }
  throw std::invalid_argument("device '" + device +
                              "': multi-process runs support cpu (Gloo) and cuda (NCCL) tensors only");
}

}  // namespace moescope::dist
