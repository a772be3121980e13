// compressor.h: `moescope compress` as a library call: read the routed experts' gate/up
// matrices from a model, size the banks, report the parameter budget, initialise, solve,
// log every iteration to metrics.jsonl and return the factorised groups.
//
// Sizing (per bank): r = compress.rank or round(rank_ratio * P); m = compress.n_bases or
// round(basis_ratio * E), E = the experts sharing the bank (one layer's routed experts, or
// every MoE layer's for scope "global"). Parameter counts: "expert" = all routed experts'
// gate/up/down matrices (down projections are never factorised); "model" = every parameter.
// rate = 1 - after / before (the fraction saved).
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compress/basis_model.h"
#include "compress/basis_init.h"
#include "compress/routing_weights.h"
#include "compress/solver.h"
#include "core/config.h"
#include "io/jsonl.h"
#include "model/transformer.h"

namespace moescope::compress {

std::vector<std::string> parse_families(const std::string& list);
int64_t rank_for(const CompressConfig& c, int64_t P);
int64_t bases_for(const CompressConfig& c, int64_t E);

// A solved group as stored factors (float32; the normalisation std folded into A).
BasisGroup basis_group_from(const GroupState& st, Activation f);

struct GroupSize {
  std::string group;
  int64_t E = 0, P = 0, D = 0, R = 0, M = 0;
  int64_t before = 0, after = 0;  // the family's matrices vs A + B + logits + mean
};

struct CompressionSizes {
  std::vector<GroupSize> groups;
  int64_t expert_before = 0, expert_after = 0;  // routed experts' gate + up + down
  int64_t model_before = 0, model_after = 0;
  double expert_rate() const { return 1.0 - double(expert_after) / double(expert_before); }
  double model_rate() const { return 1.0 - double(model_after) / double(model_before); }
  nlohmann::json to_json() const;
  std::string render() const;  // the human-readable budget printed before solving
  // Appends a bank of g.E experts of g.P x g.D (g.group, g.before set): its rank, bases and
  // parameters after (A + B + logits + mean) under cfg; expert_after and model_after follow
  // (expert_before and model_before must be set first).
  void add_bank(GroupSize g, const CompressConfig& cfg);
};

// Throws std::invalid_argument when the model has no MoE layers, or a routed expert's weight
// holds NaN/Inf (naming the layer, expert and matrix).
void check_compressible(TransformerImpl& model);
CompressionSizes plan_sizes(TransformerImpl& model, const CompressConfig& cfg);
// Throws unless `counts` has every MoE layer of the model with its number of routed experts.
void check_routing_counts(TransformerImpl& model, const RoutingCounts& counts);

struct CompressOutcome {
  std::vector<BasisGroup> groups;
  CompressionSizes sizes;
  SolveResult solve;
  double wall_s = 0;
  nlohmann::json summary;  // the "compress_summary" record (also written to metrics)
};

// Runs the whole compression; `metrics` (optional) receives one "compress" record per
// iteration and the closing "compress_summary"; progress lines go to `log`.
// `restarts` > 1 initialises each bank several times and keeps the best start (basis_init.h).
// `weight_by` (optional): weight each expert's error by its routing share (routing_weights.h,
// floored at cfg.weight_floor); the summary then names the routing run.
CompressOutcome compress_model(TransformerImpl& model, const CompressConfig& cfg, JsonlWriter* metrics,
                               std::ostream& log, const RestartOptions& restarts = {},
                               const RoutingCounts* weight_by = nullptr);

}  // namespace moescope::compress
