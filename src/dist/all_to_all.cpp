// all_to_all.cpp: see all_to_all.h.
#include "dist/all_to_all.h"

#include <torch/torch.h>

#include <numeric>

namespace moescope::dist {
namespace {

at::Tensor exchange(Group& g, const at::Tensor& x_ND, const std::vector<int64_t>& in_splits,
                    const std::vector<int64_t>& out_splits) {
  auto sizes = x_ND.sizes().vec();
  sizes[0] = std::accumulate(out_splits.begin(), out_splits.end(), int64_t{0});
  at::Tensor in = x_ND.contiguous();
  at::Tensor out = torch::empty(sizes, in.options());
  g.all_to_all(out, in, out_splits, in_splits);
  return out;
}

class AllToAllRows : public torch::autograd::Function<AllToAllRows> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x_ND, Group* g,
                            std::vector<int64_t> in_splits, std::vector<int64_t> out_splits) {
    ctx->saved_data["g"] = reinterpret_cast<int64_t>(g);
    ctx->saved_data["in"] = in_splits;
    ctx->saved_data["out"] = out_splits;
    return exchange(*g, x_ND, in_splits, out_splits);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    auto* g = reinterpret_cast<Group*>(ctx->saved_data["g"].toInt());
    const auto in_splits = ctx->saved_data["in"].toIntVector(), out_splits = ctx->saved_data["out"].toIntVector();
    return {exchange(*g, grad[0], out_splits, in_splits), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor exchange_counts(Group& g, const at::Tensor& counts_WC) {
  const int64_t W = g.size(), C = counts_WC.size(1);
  TORCH_CHECK(counts_WC.dim() == 2 && counts_WC.size(0) == W, "exchange_counts: expected [", W, ", C] counts");
  std::vector<int64_t> splits(static_cast<size_t>(W), C);
  at::Tensor in = counts_WC.to(torch::kLong).contiguous().view({W * C});
  at::Tensor out = torch::empty({W * C}, in.options());  // on the device of the counts (Gloo: CPU, NCCL: CUDA)
  g.all_to_all(out, in, splits, splits);
  return out.view({W, C});
}

at::Tensor all_to_all_rows(Group& g, const at::Tensor& x_ND, const std::vector<int64_t>& in_splits,
                           const std::vector<int64_t>& out_splits) {
  return AllToAllRows::apply(x_ND, &g, in_splits, out_splits);
}

}  // namespace moescope::dist
