// backend.h: which c10d backend carries a collective, chosen by the device of its tensors.
//   cpu  -> Gloo (ProcessGroupGloo, every build)
//   cuda -> NCCL (ProcessGroupNCCL), only in a build with it: a CUDA LibTorch >= 2.4 whose headers
//           declare it (USE_C10D_NCCL: cmake/torch_wheel.cmake with MOESCOPE_TORCH_CUDA=ON, or
//           the CUDA LibTorch's own TorchConfig.cmake); in any other build a CUDA device is
//           refused with an error that says how to build with NCCL.
// Any other device kind (mps, meta, ...) has no backend here. A group keeps one Gloo group and,
// when a CUDA tensor first reaches it, one NCCL group over the same store (process_group.cpp);
// the trainer asks before a multi-process run allocates anything (require_backend). Torch-free:
// the choice is unit-tested without a GPU.
#pragma once
#include <string>

namespace moescope::dist {

enum class Backend { kGloo, kNccl };

const char* backend_name(Backend b);  // "gloo", "nccl"

// True when this build compiled the NCCL path (dist/nccl_build.h: USE_C10D_NCCL, LibTorch >= 2.4).
bool nccl_compiled();

// The backend for tensors on `device` ("cpu", "cuda", "cuda:1", as torch prints a device).
// Throws std::runtime_error for a CUDA device when !have_nccl (the message names the build
// option), std::invalid_argument for a device kind without a backend (naming it).
Backend backend_for_device(const std::string& device, bool have_nccl = nccl_compiled());

}  // namespace moescope::dist
