// routing_weights.cpp: see routing_weights.h.
#include "compress/routing_weights.h"

#include <stdexcept>

#include "run/routing_profile_fields.h"
#include "run/routing_profile_view.h"

namespace moescope::compress {
namespace pf = profile_field;

RoutingCounts read_routing_counts(const std::string& run_dir) {
  auto j = read_routing_profile(run_dir);  // checks the version and the fields' types
  if (!j)
    throw std::invalid_argument("compress --weight-by: '" + run_dir + "' has no " + pf::kFile +
                                "; make one with `moescope scope --model DIR --data FILE --out RUN` over a calibration corpus");
  RoutingCounts out;
  out.run = run_dir;
  for (const auto& l : (*j)[pf::kLayers]) {
    std::vector<int64_t> c;
    for (const auto& v : l[pf::kCounts]) c.push_back(v.get<int64_t>());
    const int64_t layer = l[pf::kLayer].get<int64_t>();
    if (static_cast<int64_t>(c.size()) != l[pf::kExperts].get<int64_t>())
      throw std::invalid_argument("compress --weight-by: " + run_dir + "/" + pf::kFile + ": layer " + std::to_string(layer) +
                                  " lists " + std::to_string(c.size()) + " counts for " +
                                  std::to_string(l[pf::kExperts].get<int64_t>()) + " experts");
    out.layers[layer] = std::move(c);
  }
  return out;
}

at::Tensor routing_weights_E(const std::vector<int64_t>& counts_E, double floor) {
  const int64_t E = static_cast<int64_t>(counts_E.size());
  auto c = torch::tensor(counts_E, torch::kLong).to(torch::kDouble);
  const double total = c.sum().item<double>();
  if (E == 0 || total <= 0) throw std::invalid_argument("compress --weight-by: a layer's experts received no tokens at all");
  return (c * (static_cast<double>(E) / total)).clamp_min(floor);
}

void apply_routing_weights(std::vector<GroupState>& groups, const RoutingCounts& counts, double floor) {
  std::map<int64_t, at::Tensor> w_by_layer;
  for (auto& g : groups) {
    const int64_t E = static_cast<int64_t>(g.expert_index.size());
    std::map<int64_t, int64_t> per_layer;  // the model's experts per layer in this group
    for (int64_t l : g.expert_layer) ++per_layer[l];
    for (auto [layer, n] : per_layer) {
      auto it = counts.layers.find(layer);
      if (it != counts.layers.end() && static_cast<int64_t>(it->second.size()) != n)
        throw std::invalid_argument("compress --weight-by: " + counts.run + " counts " + std::to_string(it->second.size()) +
                                    " experts in layer " + std::to_string(layer) + ", the model has " + std::to_string(n) +
                                    ": it was made on another model");
    }
    auto w_E = torch::empty({E}, torch::kDouble);
    for (int64_t i = 0; i < E; ++i) {
      const int64_t layer = g.expert_layer[i];
      auto it = counts.layers.find(layer);
      if (it == counts.layers.end())
        throw std::invalid_argument("compress --weight-by: " + counts.run + " has no routing counts for layer " +
                                    std::to_string(layer) + ": it was made on another model");
      auto w = w_by_layer.find(layer);
      if (w == w_by_layer.end()) w = w_by_layer.emplace(layer, routing_weights_E(it->second, floor)).first;
      w_E[i] = w->second[g.expert_index[i]];
    }
    g.weight_E = w_E.to(g.Z_EPD.options().dtype(torch::kDouble));
  }
}

}  // namespace moescope::compress
