// compressor.cpp: see compressor.h.
#include "compress/compressor.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <stdexcept>

#include "compress/basis_init.h"
#include "compress/factor_metrics.h"
#include "compress/normalise.h"
#include "run/log_fields.h"

namespace moescope::compress {

std::vector<std::string> parse_families(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok != "gate" && tok != "up")
      throw std::invalid_argument("compress.families: '" + tok +
                                  "' is not gate or up (down projections stay as they are)");
    for (auto& o : out)
      if (o == tok) throw std::invalid_argument("compress.families: '" + tok + "' listed twice");
    out.push_back(tok);
  }
  if (out.empty()) throw std::invalid_argument("compress.families is empty: list gate and/or up");
  return out;
}

int64_t rank_for(const CompressConfig& c, int64_t P) {
  const int64_t r = c.rank > 0 ? c.rank : std::max<int64_t>(1, std::llround(c.rank_ratio * double(P)));
  if (r > P)
    throw std::invalid_argument("compress.rank = " + std::to_string(r) + " exceeds the expert hidden size " +
                                std::to_string(P));
  return r;
}

int64_t bases_for(const CompressConfig& c, int64_t E) {
  const int64_t m = c.n_bases > 0 ? c.n_bases : std::max<int64_t>(1, std::llround(c.basis_ratio * double(E)));
  if (m > E)
    throw std::invalid_argument("compress.n_bases = " + std::to_string(m) + " exceeds the " + std::to_string(E) +
                                " experts sharing the bank");
  return m;
}

BasisGroup basis_group_from(const GroupState& st, Activation f) {
  BasisGroup g;
  g.name = st.name, g.layer = st.layer, g.family = st.family;
  g.expert_layer = st.expert_layer, g.expert_index = st.expert_index;
  g.f = f;
  g.A_EPR = (st.A_EPR * st.std_E.view({-1, 1, 1})).to(torch::kFloat).contiguous();  // fold the std into A
  g.B_MRD = st.B_MRD.to(torch::kFloat).contiguous();
  g.logits_EM = st.logits_EM.to(torch::kFloat).contiguous();
  g.mean_E = st.mean_E.to(torch::kFloat).contiguous();
  return g;
}

namespace {

std::vector<MoELayerImpl*> moe_layers_with_index(TransformerImpl& model, std::vector<int64_t>& index) {
  std::vector<MoELayerImpl*> out;
  for (int64_t l = 0; l < static_cast<int64_t>(model.layers->size()); ++l) {
    auto* blk = model.layers[l]->as<BlockImpl>();
    if (blk->is_moe()) out.push_back(blk->moe.get()), index.push_back(l);
  }
  return out;
}

torch::nn::Linear& family_linear(SwiGLUMlpImpl& mlp, const std::string& fam) {
  return fam == "gate" ? mlp.gate_proj : mlp.up_proj;
}

std::vector<LayerFamily> collect(TransformerImpl& model, const std::vector<std::string>& fams) {
  std::vector<int64_t> idx;
  auto layers = moe_layers_with_index(model, idx);
  std::vector<LayerFamily> out;
  for (size_t k = 0; k < layers.size(); ++k)
    for (auto& fam : fams) {
      std::vector<at::Tensor> ws;
      for (auto& e : *layers[k]->experts)
        ws.push_back(family_linear(*e->as<SwiGLUMlpImpl>(), fam)->weight.detach().cpu());
      out.push_back({idx[k], fam, torch::stack(ws)});
    }
  return out;
}

}  // namespace

void check_compressible(TransformerImpl& model) {
  std::vector<int64_t> idx;
  auto layers = moe_layers_with_index(model, idx);
  if (layers.empty())
    throw std::invalid_argument(std::string("compress: the model has no MoE layers (model.ffn = '") +
                                enum_name(model.cfg().ffn) +
                                "', moe.first_k_dense = " + std::to_string(model.cfg().moe.first_k_dense) +
                                "): there are no routed experts to compress");
  for (size_t k = 0; k < layers.size(); ++k)
    for (size_t e = 0; e < layers[k]->experts->size(); ++e) {
      auto* mlp = layers[k]->experts[e]->as<SwiGLUMlpImpl>();
      for (auto [name, lin] :
           {std::pair{"gate_proj", mlp->gate_proj}, {"up_proj", mlp->up_proj}, {"down_proj", mlp->down_proj}})
        if (!torch::isfinite(lin->weight).all().item<bool>())
          throw std::invalid_argument("compress: layers." + std::to_string(idx[k]) + ".mlp.experts." +
                                      std::to_string(e) + "." + name +
                                      ".weight holds NaN/Inf values: the source run is broken");
    }
}

CompressionSizes plan_sizes(TransformerImpl& model, const CompressConfig& cfg) {
  check_compressible(model);
  const auto fams = parse_families(cfg.families);
  CompressionSizes s;
  std::vector<int64_t> idx;
  for (auto* layer : moe_layers_with_index(model, idx))
    for (auto& e : *layer->experts)
      for (auto& p : e->parameters()) s.expert_before += p.numel();
  s.model_before = model.num_params();
  // Bank shapes per group (the same grouping build_groups uses).
  std::map<std::string, GroupSize> groups;
  std::vector<std::string> order;
  for (auto& lf : collect(model, fams)) {
    const std::string name = bank_name(cfg.scope, lf.layer, lf.family);
    if (!groups.count(name)) order.push_back(name);
    auto& g = groups[name];
    g.group = name;
    g.E += lf.W_EPD.size(0);
    g.P = lf.W_EPD.size(1);
    g.D = lf.W_EPD.size(2);
    g.before += lf.W_EPD.numel();
  }
  s.expert_after = s.expert_before;
  s.model_after = s.model_before;
  for (auto& n : order) s.add_bank(groups[n], cfg);
  return s;
}

void CompressionSizes::add_bank(GroupSize g, const CompressConfig& cfg) {
  g.R = rank_for(cfg, g.P);
  g.M = bases_for(cfg, g.E);
  g.after = g.E * g.P * g.R + g.M * g.R * g.D + g.E * g.M + g.E;
  expert_after -= g.before - g.after;
  model_after -= g.before - g.after;
  groups.push_back(std::move(g));
}

void check_routing_counts(TransformerImpl& model, const RoutingCounts& counts) {
  std::vector<int64_t> idx;
  auto layers = moe_layers_with_index(model, idx);
  for (size_t k = 0; k < layers.size(); ++k)
    layer_counts(counts, idx[k], static_cast<int64_t>(layers[k]->experts->size()));
}

nlohmann::json CompressionSizes::to_json() const {
  nlohmann::json gs = nlohmann::json::array();
  for (auto& g : groups)
    gs.push_back({{log_field::kGroup, g.group},
                  {"experts", g.E},
                  {"rows", g.P},
                  {"width", g.D},
                  {"rank", g.R},
                  {"bases", g.M},
                  {"params_before", g.before},
                  {"params_after", g.after}});
  return {{"expert_params_before", expert_before},
          {"expert_params_after", expert_after},
          {"expert_compression_rate", expert_rate()},
          {"model_params_before", model_before},
          {"model_params_after", model_after},
          {"model_compression_rate", model_rate()},
          {"banks", gs}};
}

std::string CompressionSizes::render() const {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1);
  for (auto& g : groups)
    o << "  bank " << g.group << ": " << g.E << " experts of " << g.P << "x" << g.D << ", rank " << g.R << ", " << g.M
      << " bases: " << g.before << " -> " << g.after << " params\n";
  o << "  routed-expert params: " << expert_before << " -> " << expert_after << " (" << 100.0 * expert_rate()
    << "% fewer)\n";
  o << "  model params: " << model_before << " -> " << model_after << " (" << 100.0 * model_rate() << "% fewer)\n";
  return o.str();
}

CompressOutcome compress_model(TransformerImpl& model, const CompressConfig& cfg, JsonlWriter* metrics,
                               std::ostream& log, const RestartOptions& restarts, const RoutingCounts* weight_by) {
  cfg.validate();
  const auto t0 = std::chrono::steady_clock::now();
  CompressOutcome out;
  out.sizes = plan_sizes(model, cfg);
  const Activation f = cfg.activation;
  auto states = build_groups(collect(model, parse_families(cfg.families)), cfg.scope, cfg.normalise);
  if (weight_by) apply_routing_weights(states, *weight_by, cfg.weight_floor);
  for (size_t k = 0; k < states.size(); ++k) {
    const auto& gs = out.sizes.groups[k];
    initialise_multistart(states[k], cfg, gs.R, gs.M, f, static_cast<uint64_t>(cfg.seed) + 7919 * k, restarts);
  }
  auto report = [&](const IterationReport& r) {
    if (metrics) metrics->write(iteration_record(r, enum_name(cfg.solver)));
    double worst = 0;
    for (auto& g : r.groups) worst = std::max(worst, g.rel_error);
    if (r.iter % 10 == 0)
      log << "compress: iter " << r.iter << " objective " << r.objective << " max rel_error " << worst << "\n";
  };
  out.solve = solve(states, cfg, f, report);
  IterationReport final_r = measure_all(states, f, cfg, out.solve.best_iter);
  for (auto& g : final_r.groups)
    if (g.nonfinite > 0)
      throw std::runtime_error("compress: " + g.group +
                               " never reached a finite state (NaN/Inf in the factors); "
                               "lower compress.lr or try compress.init = svd");
  for (auto& st : states) out.groups.push_back(basis_group_from(st, f));
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json errs = nlohmann::json::array();
  for (auto& g : final_r.groups) errs.push_back(to_json(g));
  out.summary = out.sizes.to_json();
  out.summary.update({{log_field::kSchema, 1},
                      {log_field::kType, log_field::kCompressSummary},
                      {"solver", enum_name(cfg.solver)},
                      {"scope", enum_name(cfg.scope)},
                      {"activation", enum_name(cfg.activation)},
                      {"init", enum_name(cfg.init)},
                      {"restarts", restarts.restarts},
                      {"iterations", out.solve.iters},
                      {"best_iter", out.solve.best_iter},
                      {"objective", out.solve.best_objective},
                      {"stop_reason", out.solve.stop_reason},
                      {"wall_s", out.wall_s},
                      {log_field::kGroups, errs}});
  if (weight_by) out.summary.update({{"weighted_by", weight_by->run}, {"weight_floor", cfg.weight_floor}});
  if (metrics) metrics->write(out.summary);
  return out;
}

}  // namespace moescope::compress
