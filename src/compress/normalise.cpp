// normalise.cpp: see normalise.h.
#include "compress/normalise.h"

#include <map>
#include <stdexcept>

namespace moescope::compress {
namespace {
// ||X||_F^2 without a temporary of X's size (a dot product of the flattened tensor).
double sum_of_squares(const at::Tensor& X) {
  auto x = X.contiguous().reshape({-1});
  return torch::dot(x, x).item<double>();
}
}  // namespace

std::string bank_name(BankScope scope, int64_t layer, const std::string& family) {
  return scope == BankScope::kGlobal ? "global." + family : "layer" + std::to_string(layer) + "." + family;
}

NormStats zscore_stats(const at::Tensor& W, bool normalise) {
  NormStats s;
  if (!normalise) return s;
  auto w = W.to(torch::kDouble);
  s.mean = w.mean().item<double>();
  s.std = w.std(/*unbiased=*/false).item<double>();
  if (!(s.std > 0)) s.std = 1.0;  // constant weights: nothing to scale
  return s;
}

std::vector<GroupState> build_groups(const std::vector<LayerFamily>& lfs, BankScope scope, bool normalise) {
  std::vector<GroupState> out;
  std::map<std::string, size_t> by_name;
  for (auto& lf : lfs) {
    auto W = lf.W_EPD.to(torch::kDouble);
    const int64_t E = W.size(0);
    const NormStats st = zscore_stats(W, normalise);
    const std::string name = bank_name(scope, lf.layer, lf.family);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      GroupState g;
      g.name = name;
      g.family = lf.family;
      g.layer = scope == BankScope::kGlobal ? -1 : lf.layer;
      g.Z_EPD = torch::empty({0, W.size(1), W.size(2)}, W.options());
      g.mean_E = torch::empty({0}, W.options());
      g.std_E = torch::empty({0}, W.options());
      out.push_back(std::move(g));
      it = by_name.emplace(name, out.size() - 1).first;
    }
    GroupState& g = out[it->second];
    if (g.Z_EPD.size(1) != W.size(1) || g.Z_EPD.size(2) != W.size(2))
      throw std::invalid_argument("compress: a global bank needs every layer's experts to have the same shape (" +
                                  name + ")");
    // The first family of a bank is kept as is (no copy through cat: the streamed compression
    // holds one layer's experts, and a copy would double that).
    const bool first = g.Z_EPD.size(0) == 0;
    auto Z = W - st.mean;  // then divided in place: one temporary of W's size, not two
    Z.div_(st.std);
    g.Z_EPD = first ? Z : torch::cat({g.Z_EPD, Z});
    g.mean_E = torch::cat({g.mean_E, torch::full({E}, st.mean, W.options())});
    g.std_E = torch::cat({g.std_E, torch::full({E}, st.std, W.options())});
    for (int64_t e = 0; e < E; ++e) {
      g.expert_layer.push_back(lf.layer);
      g.expert_index.push_back(e);
    }
    g.w_norm2 += sum_of_squares(W);
  }
  for (auto& g : out) g.z_norm2 = sum_of_squares(g.Z_EPD);
  return out;
}

}  // namespace moescope::compress
