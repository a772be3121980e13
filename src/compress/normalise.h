// normalise.h: the solvers' targets. Every (layer, family) of routed-expert matrices is z-scored
// with one scalar mean and std over all its experts' weights (compress.normalise); the std is
// later folded into A and the mean kept as a per-expert shift (basis_model.h).
// Legend: E experts, P rows, D width.
#pragma once
#include <string>
#include <vector>

#include "compress/solver.h"

namespace moescope::compress {

// The routed experts' matrices of one family in one layer, as read from the model.
struct LayerFamily {
  int64_t layer = 0;
  std::string family;  // "gate" or "up"
  at::Tensor W_EPD;    // any floating dtype
};

struct NormStats {
  double mean = 0, std = 1;
};
NormStats zscore_stats(const at::Tensor& W, bool normalise);

// One GroupState per (layer, family) for scope "layer", or one per family ("global.gate", ...)
// holding every layer's experts for scope "global". Factors are left undefined (basis_init.h).
std::vector<GroupState> build_groups(const std::vector<LayerFamily>& lfs, BankScope scope, bool normalise);
// A bank's name: "layer{layer}.{family}", or "global.{family}" for scope global.
std::string bank_name(BankScope scope, int64_t layer, const std::string& family);

}  // namespace moescope::compress
