// forward_pass.h: one MoE layer's forward, totalled in one pass over plain CPU arrays (the Python
// package's CPU fast path: the watcher hands the router's tensors here zero-copy instead of
// dispatching a dozen torch ops per forward). It computes what the watcher's device path adds
// per forward: the counts per expert, the router entropy (normalised by ln E), the top-1 score,
// the logits' sum of squares and maximum, and optionally the co-activation pairs.
#pragma once
#include <cstdint>
#include <string>

namespace moescope {

// Per-forward sums (added to the interval's RoutingTotals by the front end).
struct ForwardSums {
  double ent_sum = 0;   // sum over tokens of the normalised entropy (nats / ln E)
  double top1_sum = 0;  // sum over tokens of the top-1 score
  double logit_sq = 0;  // sum of squared logits
  double logit_max = -1e30;
  int64_t prob_tokens = 0;  // tokens whose scores are in ent_sum, top1_sum
  int64_t logit_n = 0;      // logits in logit_sq
};

// Adds to coact_EE [E * E], per token of ids_TK [T * K] (ids in [0, E), checked by the caller),
// 1 for every pair (a, b) of its distinct experts (the diagonal: tokens that chose a); a repeated
// id in a token counts once. The one co-activation counter of every front end.
void add_coactivation_pairs(const int64_t* ids_TK, int64_t T, int64_t K, int64_t E, int64_t* coact_EE);

// ids_TK [T * K] the chosen experts (each in [0, E), else std::invalid_argument naming `where`,
// before anything is added); probs_TE, logits_TE [T * E] row-major or nullptr. The scores are
// probs when given, else softmax(logits) (sigmoid(logits) when `sigmoid`); a sigmoid router's
// scores are normalised per token for the entropy, its top-1 is the raw score (docs/metrics.md).
// counts_E [E] gets each id added; coact_EE [E * E] (or nullptr) gets add_coactivation_pairs.
ForwardSums accumulate_forward(const int64_t* ids_TK, int64_t T, int64_t K, int64_t E, const float* probs_TE,
                               const float* logits_TE, bool sigmoid, int64_t* counts_E, int64_t* coact_EE,
                               const std::string& where);

}  // namespace moescope
