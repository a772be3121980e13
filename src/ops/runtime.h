// runtime.h: process-wide runtime setup (intra-op threads, seeding, device choice).
#pragma once
#include <cstdint>
#include <string>

namespace moescope {

// Call first in main(). Re-executes the process once (libgomp and OpenBLAS read these only at
// load time) with OMP_WAIT_POLICY=PASSIVE unless the user set it: spinning OpenMP workers
// otherwise steal the cores from OpenBLAS's own threads, and small expert matmuls ran ~3x slower
// (bench/); and with OPENBLAS_CORETYPE when OpenBLAS fell back to pre-AVX2 kernels on a CPU it
// does not know (core/blas_core.h). Also keeps freed large blocks in the malloc heap (no page
// faults on every step's activations).
void init_process(int argc, char** argv);
// Uses every hardware thread for intra-op parallelism unless OMP_NUM_THREADS is set
// (Debian's LibTorch otherwise defaults to one thread).
void init_runtime_threads();
// Sets the intra-op threads of LibTorch (OpenMP, also oneDNN's) and of OpenBLAS's own pool
// together (OpenBLAS otherwise keeps one spinning worker per core whatever LibTorch is told).
void set_compute_threads(int n);
// One line saying how the current thread count was chosen (printed by `moescope info`).
std::string thread_rule_description();
// Seeds LibTorch's CPU (and CUDA, when present) generators.
void seed_everything(uint64_t seed);
// "cpu", "cuda" or "auto" (cuda when available) -> the resolved device string.
std::string resolve_device(const std::string& requested);

}  // namespace moescope
