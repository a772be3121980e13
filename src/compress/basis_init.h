// basis_init.h: initial factors for a group (compress.init), then A by the closed-form refit.
//   svd     grouped SVD: experts are clustered into M groups by k-means on their row-space
//           signatures vec(Z_i^T Z_i) (cosine distance); basis j is the top-R right singular
//           vectors of cluster j's stacked rows; each expert starts mostly on its cluster's basis
//           (logit 3, others 0).
//   pca     energy-row PCA: the top-R principal directions of all experts' rows, each row
//           weighted by its energy (squared norm); basis 0 is that, bases j > 0 add seeded
//           Gaussian perturbations (0.3 per entry) to break the symmetry; alpha uniform.
//   random  Gaussian bases, near-uniform alpha (seeded).
// Bases are scaled to entries of order 1 (unit-norm directions times sqrt(D)).
// Legend: E experts, P rows, D width, R rank, M bases.
#pragma once
#include <string>

#include "compress/solver.h"

namespace moescope::compress {

void initialise(GroupState& g, InitMethod method, int64_t R, int64_t M, Activation f, double ridge, uint64_t seed);

// Multi-start: the bilinear problem has local minima (bases found up to a per-basis rotation
// mix badly), so `restarts` initialisations are tried, each followed by `iters` iterations of the
// configured solver, and the lowest objective wins. Restart 0 is compress.init with `seed`;
// restart k > 0 cycles through svd, pca, random (starting after compress.init) with seed + k.
struct RestartOptions {
  int64_t restarts = 1;  // 1 = a single initialisation, no trial solves
  int64_t iters = 50;
};
void initialise_multistart(GroupState& g, const CompressConfig& cfg, int64_t R, int64_t M, Activation f, uint64_t seed,
                           const RestartOptions& opt);

// k-means labels (0..K-1) of the rows of X_EF under cosine distance; deterministic for a seed.
std::vector<int64_t> kmeans_cosine(const at::Tensor& X_EF, int64_t K, uint64_t seed, int64_t iters = 20);

}  // namespace moescope::compress
