// interval.h: one MoE layer's routing over one log interval, accumulated from plain arrays
// (torch-free), and the layer record it writes into metrics.jsonl (docs/metrics.md). Every front
// end feeds it: the C++ trainer and `scope --model` (scope/microscope.h, from the layers'
// RoutingRecords), the multi-rank reduction (pack/unpack below) and the Python package
// (python/, from the top-k ids a hook saw).
// The per-forward scalars are spelled once, in MOESCOPE_ROUTING_TOTALS: the struct
// RoutingTotals, its accumulation (add) and the cross-rank packing all expand that one list.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "routing/metrics.h"

namespace moescope {

// X(type, name, reduction, help): reduction is kSum (added over forwards and ranks) or kMax.
#define MOESCOPE_ROUTING_TOTALS(X)                                                                 \
  X(int64_t, assign, kSum, "slots chosen: tokens x K")                                             \
  X(int64_t, dropped, kSum, "slots dropped by the capacity")                                       \
  X(int64_t, bias_changed, kSum, "slots whose expert the balancing bias changed")                  \
  X(int64_t, tokens, kSum, "tokens routed")                                                        \
  X(int64_t, forwards, kSum, "forwards (micro-batches) observed")                                  \
  X(int64_t, logit_n, kSum, "router logits summed in logit_sq (0: none seen)")                     \
  X(int64_t, prob_tokens, kSum, "tokens whose router probabilities are in ent_sum, top1_sum")      \
  X(double, ent_sum, kSum, "sum over tokens of the normalised entropy of the router distribution") \
  X(double, top1_sum, kSum, "sum over tokens of the top-1 router score")                           \
  X(double, logit_sq, kSum, "sum of squared router logits")                                        \
  X(double, switch_loss, kSum, "sum over forwards of the switch balance loss")                     \
  X(double, seq_loss, kSum, "sum over forwards of the sequence-wise balance loss")                 \
  X(double, z_loss, kSum, "sum over forwards of the router z-loss")                                \
  X(double, logit_max, kMax, "largest router logit")

enum class Reduction { kSum, kMax };

// A field's value before anything is added: 0 for a sum, -1e30 for a max (a double).
template <class T>
T totals_initial(Reduction r) {
  if constexpr (std::is_floating_point_v<T>) return r == Reduction::kMax ? T(-1e30) : T(0);
  else return r == Reduction::kMax ? std::numeric_limits<T>::lowest() : T(0);
}

struct RoutingTotals {
#define MOESCOPE_TOTALS_MEMBER(type, name, red, help) type name = totals_initial<type>(Reduction::red);
  MOESCOPE_ROUTING_TOTALS(MOESCOPE_TOTALS_MEMBER)
#undef MOESCOPE_TOTALS_MEMBER
  void add(const RoutingTotals& o);
  // v(name, member, reduction) for every field, in the list's order.
  template <class V>
  void visit(V&& v) {
#define MOESCOPE_TOTALS_VISIT(type, name, red, help) v(#name, name, Reduction::red);
    MOESCOPE_ROUTING_TOTALS(MOESCOPE_TOTALS_VISIT)
#undef MOESCOPE_TOTALS_VISIT
  }
};

// {"p50", "p90", "p99", "min", "max", "cv"} of a spread (records and summaries).
nlohmann::json spread_json(const CountSpread& s);

// One MoE layer's routing in one forward, as plain arrays. counts/kept: [E] routed slots (before
// the capacity) and computed slots; expert_TK: [T * K] row-major, the real chosen experts (read
// only when the interval samples co-activation; may be empty otherwise). totals.forwards = 1.
struct ForwardRouting {
  std::vector<int64_t> counts, kept;
  std::vector<int64_t> expert_TK;
  int64_t top_k = 1;
  RoutingTotals totals;
};

// Throws std::invalid_argument naming `where` when the arrays disagree: counts and kept of E
// entries, expert_TK of tokens * K ids each in [0, E), counts summing to the chosen slots.
void check_forward(const ForwardRouting& f, int64_t n_experts, const std::string& where);

class LayerInterval {
 public:
  explicit LayerInterval(int64_t n_experts = 0) : E_(n_experts) {}
  // One forward. coact: add its co-activation pairs (expert_TK must hold tokens * K ids).
  void observe(const ForwardRouting& f, bool coact);
  // The end of an optimizer step: this step's counts go into the per-step history (MaxVio_batch);
  // bias (E values, or nullptr for a router without one) is the bias after the step's update.
  void end_step(const double* bias);
  // The same in bulk (the Python front end): one step's counts [E].
  void add_step_counts(const std::vector<int64_t>& c);
  // Co-activation pairs [E * E] (row-major: tokens that chose both a and b; the diagonal: tokens
  // that chose a), added to the interval's.
  void add_coactivation(const std::vector<int64_t>& pairs);

  // Derived figures of the interval.
  double maxvio_batch() const;    // MaxVio of each step's counts, averaged over the steps
  double drop_rate() const;       // dropped / assigned slots
  double router_entropy() const;  // mean per-token normalised router entropy (0: none seen)
  LoadMetrics load(int64_t top_k) const { return load_metrics(counts, top_k); }

  // The layer's entry of the train record's "moe" array (docs/metrics.md). live_bias: the bias
  // when no step ended in the interval; gradients: write the gradient norms (training only).
  // A front end that routed tokens without showing their router probabilities (prob_tokens 0)
  // or logits (logit_n 0) gets no router_entropy / top1_score or logit_rms / logit_max: absent,
  // not a made-up 0.
  nlohmann::json record(int64_t layer, const LoadMetrics& m, const std::vector<double>& live_bias,
                        const ScopeConfig& cfg, const std::string& status, bool gradients) const;

  int64_t n_experts() const { return E_; }

  // State (read by the adapters; the packing below keeps it consistent across ranks).
  std::vector<int64_t> counts, kept, step_counts;  // [E] (empty before the first forward)
  std::vector<std::vector<int64_t>> step_hist;     // each ended step's counts
  std::vector<int64_t> coact;                      // [E * E] when sampled (else empty)
  RoutingTotals totals;
  std::vector<double> bias_sum, bias_lo, bias_hi;  // the bias after each step of the interval
  int64_t bias_steps = 0;
  double router_grad = 0;  // set by the trainer's adapter
  std::vector<double> expert_grad;

 private:
  int64_t E_;
};

// The cross-rank reduction of a multi-process run, as plain arrays: every layer's interval is
// packed into integers (summed), doubles (summed) and doubles (max) in one fixed order; the
// adapter reduces the three arrays over ranks and unpacks them. coact: the interval samples
// co-activation (each layer's pairs travel, zeros where it saw no forward).
struct IntervalPack {
  std::vector<int64_t> ints;
  std::vector<double> sums, maxes;
  int64_t layout() const;  // a fingerprint of the sizes, equal on every rank with the same steps
};
IntervalPack pack_intervals(std::vector<LayerInterval>& layers, bool coact);
void unpack_intervals(const IntervalPack& p, std::vector<LayerInterval>& layers, bool coact);

}  // namespace moescope
