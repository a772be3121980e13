# torch_wheel.cmake: LibTorch from a PyTorch wheel (PyPI's torch, in the project's Python
# environment), imported directly instead of through the wheel's TorchConfig.cmake.
#
# Why: PyPI's torch is a CUDA build, and its Caffe2Config.cmake insists on a CUDA toolkit (nvcc)
# at configure time, which a CPU-only machine lacks. The wheel itself needs none of that to
# compile and link host code: its headers, libtorch*.so and c10 are in the wheel, and the CUDA
# runtime and NCCL it was built against come as nvidia-* wheels beside it (cuda_runtime.h,
# nccl.h, libcudart, libnccl). So this file sets what the rest of the build reads from
# find_package(Torch) -- TORCH_LIBRARIES, TORCH_CXX_FLAGS, TORCH_CUDA_LIBRARIES, Torch_VERSION --
# from the wheel's own layout:
#   MOESCOPE_TORCH_WHEEL   site-packages/torch of that environment (setup.sh passes it)
#   MOESCOPE_TORCH_CUDA    ON: also link libtorch_cuda/libc10_cuda with the nvidia-* headers, so
#                          CUDA code (MOESCOPE_WITH_CUDA) and ProcessGroupNCCL compile and link;
#                          the binary still runs on a CPU-only machine (CUDA is loaded lazily).
# The binary finds the wheel's libraries through its RPATH (the wheel's lib/ and nvidia-*/lib).
set(_tw ${MOESCOPE_TORCH_WHEEL})
if(NOT EXISTS ${_tw}/include/torch/torch.h AND NOT EXISTS ${_tw}/include/torch/csrc/api/include/torch/torch.h)
  message(FATAL_ERROR "moescope: MOESCOPE_TORCH_WHEEL=${_tw} is not a PyTorch wheel's torch/ directory "
                      "(no include/torch); pass site-packages/torch of the project's environment")
endif()
file(READ ${_tw}/version.py _tw_version_py)
string(REGEX MATCH "__version__ = '([0-9]+\\.[0-9]+\\.[0-9]+)" _ ${_tw_version_py})
set(Torch_VERSION ${CMAKE_MATCH_1})
string(REGEX MATCH "cuda: Optional\\[str\\] = '([0-9.]+)'" _ ${_tw_version_py})
set(_tw_cuda_version ${CMAKE_MATCH_1})
get_filename_component(_tw_site ${_tw} DIRECTORY)

set(_tw_libs ${_tw}/lib/libtorch.so ${_tw}/lib/libtorch_cpu.so ${_tw}/lib/libc10.so)
foreach(l IN LISTS _tw_libs)
  if(NOT EXISTS ${l})
    message(FATAL_ERROR "moescope: the PyTorch wheel at ${_tw} has no ${l}")
  endif()
endforeach()
add_library(moescope_torch_wheel INTERFACE IMPORTED GLOBAL)
set_target_properties(moescope_torch_wheel PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_tw}/include;${_tw}/include/torch/csrc/api/include"
  INTERFACE_LINK_LIBRARIES "${_tw_libs}")
set(_tw_rpath ${_tw}/lib)
set(TORCH_CUDA_LIBRARIES "")
if(MOESCOPE_TORCH_CUDA)
  if(NOT _tw_cuda_version)
    message(FATAL_ERROR "moescope: MOESCOPE_TORCH_CUDA=ON but the wheel at ${_tw} is not a CUDA build")
  endif()
  # the CUDA runtime headers and NCCL of the nvidia-* wheels (nvidia/cu13 for CUDA 13, else nvidia/cuda_runtime)
  file(GLOB _tw_cuda_inc ${_tw_site}/nvidia/cu*/include ${_tw_site}/nvidia/cuda_runtime/include)
  file(GLOB _tw_cuda_lib ${_tw_site}/nvidia/cu*/lib ${_tw_site}/nvidia/cuda_runtime/lib)
  set(_tw_nccl ${_tw_site}/nvidia/nccl)
  if(NOT _tw_cuda_inc OR NOT EXISTS ${_tw_nccl}/include/nccl.h)
    message(FATAL_ERROR "moescope: MOESCOPE_TORCH_CUDA=ON needs the nvidia-* wheels beside torch "
                        "(cuda_runtime.h, nccl.h) in ${_tw_site}/nvidia")
  endif()
  # CUDA 13's runtime wheel ships cuda_runtime_api.h and cuda_fp16.h without headers they
  # include (crt/host_defines.h, nv/target): those come as the nvidia-cuda-crt and
  # nvidia-cuda-cccl wheels, which python/requirements.lock pins.
  set(_tw_cuda_inc0 "")
  foreach(d IN LISTS _tw_cuda_inc)
    if(NOT _tw_cuda_inc0 AND EXISTS ${d}/cuda_runtime_api.h)
      set(_tw_cuda_inc0 ${d})
    endif()
  endforeach()
  foreach(h crt/host_defines.h nv/target)
    if(NOT EXISTS ${_tw_cuda_inc0}/${h})
      message(FATAL_ERROR "moescope: MOESCOPE_TORCH_CUDA=ON: the CUDA headers in ${_tw_cuda_inc0} include ${h}, which is "
                          "missing: install the nvidia-cuda-crt and nvidia-cuda-cccl wheels of CUDA ${_tw_cuda_version} "
                          "into the environment (python/requirements.lock pins them)")
    endif()
  endforeach()
  set(TORCH_CUDA_LIBRARIES ${_tw}/lib/libtorch_cuda.so ${_tw}/lib/libc10_cuda.so)
  set_property(TARGET moescope_torch_wheel APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES
               ${_tw_cuda_inc} ${_tw_nccl}/include)
  set_property(TARGET moescope_torch_wheel APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${TORCH_CUDA_LIBRARIES})
  # ProcessGroupNCCL.hpp declares its class only under USE_C10D_NCCL (the wheel's build defined it)
  set_property(TARGET moescope_torch_wheel APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS USE_C10D_NCCL)
  list(APPEND _tw_rpath ${_tw_cuda_lib} ${_tw_nccl}/lib)
endif()
set(TORCH_LIBRARIES moescope_torch_wheel)
execute_process(COMMAND ${MOESCOPE_PYTHON} -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))"
                OUTPUT_VARIABLE _tw_abi OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _tw_rc)
if(NOT _tw_rc EQUAL 0)
  set(_tw_abi 1)  # every wheel since torch 2.7
endif()
set(TORCH_CXX_FLAGS -D_GLIBCXX_USE_CXX11_ABI=${_tw_abi})
list(APPEND CMAKE_BUILD_RPATH ${_tw_rpath})
list(APPEND CMAKE_INSTALL_RPATH ${_tw_rpath})
if(MOESCOPE_TORCH_CUDA)
  message(STATUS "moescope: LibTorch ${Torch_VERSION} from the wheel at ${_tw}, with CUDA ${_tw_cuda_version} and NCCL")
else()
  message(STATUS "moescope: LibTorch ${Torch_VERSION} from the wheel at ${_tw} (CPU code; the wheel's CUDA unused)")
endif()
