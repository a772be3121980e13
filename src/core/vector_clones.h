// vector_clones.h: a vector loop's function compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 +
// FMA) and the baseline, the dynamic loader picking one for the CPU at hand (GCC's target_clones,
// on x86-64 Linux; elsewhere one baseline copy). Besides the width, this keeps a loop's
// instructions VEX-encoded next to MKL's AVX-512 code: the baseline build's legacy-SSE loop ran
// ~5x slower after it (the transition penalty of dirty upper register halves). Bodies written in
// MOESCOPE_ALWAYS_INLINE helpers are compiled once per clone, for its ISA. (GCC 12 never picked the
// clones spelled "arch=skylake-avx512"/"arch=haswell" on an Emerald Rapids VM; these it does.)
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MOESCOPE_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MOESCOPE_VECTOR_CLONES
#endif
#define MOESCOPE_ALWAYS_INLINE __attribute__((always_inline))
