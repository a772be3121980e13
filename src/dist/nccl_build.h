// nccl_build.h: MOESCOPE_NCCL, defined (1) when this build compiles the NCCL path of the world
// group: the LibTorch is a CUDA build whose c10d headers declare ProcessGroupNCCL
// (USE_C10D_NCCL, set by its targets or cmake/torch_wheel.cmake) and is 2.4 or newer (the
// ProcessGroupNCCL API used: Backend options, shutdown(), c10::cuda::MaybeSetDevice). Debian's
// CPU LibTorch 1.13 leaves it undefined. Private to src/dist (backend.cpp, process_group.cpp);
// only LibTorch's version macros are included.
#pragma once
#include <torch/version.h>

#if defined(USE_C10D_NCCL) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
#define MOESCOPE_NCCL 1
#endif
