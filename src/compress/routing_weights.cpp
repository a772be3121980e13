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
    throw std::invalid_argument(
        "compress --weight-by: '" + run_dir + "' has no " + pf::kFile +
        "; make one with `moescope scope --model DIR --data FILE --out RUN` over a calibration corpus");
  RoutingCounts out;
  out.run = run_dir;
  for (const auto& l : (*j)[pf::kLayers]) {
    std::vector<int64_t> c;
    for (const auto& v : l[pf::kCounts]) c.push_back(v.get<int64_t>());
    const int64_t layer = l[pf::kLayer].get<int64_t>();
    if (static_cast<int64_t>(c.size()) != l[pf::kExperts].get<int64_t>())
      throw std::invalid_argument("compress --weight-by: " + run_dir + "/" + pf::kFile + ": layer " +
                                  std::to_string(layer) + " lists " + std::to_string(c.size()) + " counts for " +
                                  std::to_string(l[pf::kExperts].get<int64_t>()) + " experts");
    out.layers[layer] = std::move(c);
  }
  return out;
}

at::Tensor routing_weights_E(const std::vector<int64_t>& counts_E, double floor) {
  const int64_t E = static_cast<int64_t>(counts_E.size());
  auto c = torch::tensor(counts_E, torch::kLong).to(torch::kDouble);
  const double total = c.sum().item<double>();
  if (E == 0 || total <= 0)
    throw std::invalid_argument("compress --weight-by: a layer's experts received no tokens at all");
  return (c * (static_cast<double>(E) / total)).clamp_min(floor);
}

const std::vector<int64_t>& layer_counts(const RoutingCounts& counts, int64_t layer, int64_t n_experts) {
  auto it = counts.layers.find(layer);
  if (it == counts.layers.end() || static_cast<int64_t>(it->second.size()) != n_experts)
    throw std::invalid_argument("compress --weight-by: " + counts.run + " has " +
                                (it == counts.layers.end() ? std::string("no routing counts")
                                                           : std::to_string(it->second.size()) + " experts' counts") +
                                " for layer " + std::to_string(layer) + " where the model has " +
                                std::to_string(n_experts) + " routed experts: it was made on another model");
  return it->second;
}

void check_routing_counts(const RoutingCounts& counts, const std::vector<int64_t>& moe_layers, int64_t n_experts) {
  for (int64_t l : moe_layers) layer_counts(counts, l, n_experts);
}

void apply_routing_weights(std::vector<GroupState>& groups, const RoutingCounts& counts, double floor) {
  for (auto& g : groups) {
    std::map<int64_t, int64_t> per_layer;  // the model's experts per layer in this group
    for (int64_t l : g.expert_layer) ++per_layer[l];
    std::map<int64_t, at::Tensor> w_by_layer;
    for (auto [layer, n] : per_layer) w_by_layer[layer] = routing_weights_E(layer_counts(counts, layer, n), floor);
    const int64_t E = static_cast<int64_t>(g.expert_index.size());
    auto w_E = torch::empty({E}, torch::kDouble);
    for (int64_t i = 0; i < E; ++i) w_E[i] = w_by_layer.at(g.expert_layer[i])[g.expert_index[i]];
    set_objective_weights(g, w_E);
  }
}

}  // namespace moescope::compress
