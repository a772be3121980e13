// dispatch_reference.cpp: see dispatch_reference.h.
#include "ops/dispatch_reference.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace moescope {

at::Tensor reference_keep_mask(const at::Tensor& expert_TK, const at::Tensor& weight_TK, int64_t E,
                               double capacity_factor, DropPolicy policy) {
  auto ex = expert_TK.to(torch::kCPU).contiguous();
  auto w = weight_TK.detach().to(torch::kCPU).to(torch::kDouble).contiguous();
  const int64_t T = ex.size(0), K = ex.size(1);
  auto keep = torch::ones({T, K}, torch::kBool);
  if (capacity_factor <= 0) return keep;
  const int64_t cap = static_cast<int64_t>(std::ceil(capacity_factor * double(T * K) / double(E)));
  auto ea = ex.accessor<int64_t, 2>();
  auto wa = w.accessor<double, 2>();
  auto ka = keep.accessor<bool, 2>();
  for (int64_t e = 0; e < E; ++e) {
    std::vector<std::pair<int64_t, int64_t>> mine;  // (t, j)
    for (int64_t j = 0; j < K; ++j)
      for (int64_t t = 0; t < T; ++t)
        if (ea[t][j] == e) mine.emplace_back(t, j);
    if (policy == DropPolicy::kScore) {
      std::stable_sort(mine.begin(), mine.end(),
                       [&](auto& a, auto& b) { return wa[a.first][a.second] > wa[b.first][b.second]; });
    }  // kPosition: already slot-major, then by token
    for (size_t i = static_cast<size_t>(cap); i < mine.size(); ++i) ka[mine[i].first][mine[i].second] = false;
  }
  return keep;
}

}  // namespace moescope
