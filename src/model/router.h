// router.h: the DeepSeekMoE router (gate): scores, top-k selection, balancing terms.
//
// Legend: T tokens (B*S flattened), B sequences, S tokens per sequence, D width,
//         E routed experts, K top-k.
//   logits_TE = x_TD W_ED^T                       (fp32; fp64 when x is double)
//   scores_TE = softmax(logits_TE) | sigmoid(logits_TE)
//   selection = topk(scores_TE + bias_E)          (bias: aux-loss-free balancing; selection only)
//   weight_TK = scores_TE[expert_TK]  (renormalised to sum 1 if norm_topk_prob) * routed_scaling_factor
//   moe.bias_in_weights (opt-in): weight_TK = (scores_TE + bias_E)[expert_TK], then renormalised
//   and scaled the same way
//   moe.bias_on_logits (opt-in, softmax only): selection = topk(logits_TE + bias_E), i.e. the bias
//   multiplies the scores by exp(bias_E); with bias_in_weights too, weight_TK =
//   softmax(logits_TE + bias_E)[expert_TK] (the seed's PyTorch model); scores_TE stay unbiased
// Group-limited routing (n_group > 1): a group's score is its max expert score (softmax) or
// the sum of its top-2 (sigmoid, as DeepSeek-V3); only the topk_group best groups are eligible.
// Jitter (training only): "input" multiplies the router input by U(1-eps, 1+eps) (Switch
// Transformer); "logits" adds N(0, eps^2) noise to the logits.
// The balancing knobs (bias on/rate, jitter, seq-aux alpha, z-loss beta, lr multiplier) are
// live state owned here (router_knobs.h): they start from the config and change only through
// set_knob() / set_knobs(); cfg() is the static routing config (its balancing fields are the
// starting values, never read while routing).
// Balance terms, all from the pre-capacity top-k decisions, P' = scores normalised per token:
//   switch (GShard): alpha * E * sum_i f_i * P_i,  f_i = count_i / (K*T),  P_i = mean_t P'_ti
//   seq (DeepSeek-V3): alpha * mean_b sum_i f_bi * P_bi,  f_bi = E * count_bi / (K*S),
//                      P_bi = mean_{t in b} P'_ti
//   z-loss: beta * mean_t logsumexp(logits_t)^2
#pragma once
#include <torch/torch.h>

#include "core/config.h"
#include "routing/router_knobs.h"

namespace moescope {

struct Routing {
  at::Tensor expert_TK;  // [T, K] int64 chosen experts (with bias, if enabled)
  at::Tensor weight_TK;  // [T, K] gate weights (differentiable; from unbiased scores unless bias_in_weights)
  at::Tensor scores_TE;  // [T, E] full router probabilities (differentiable)
  at::Tensor logits_TE;  // [T, E] router logits (differentiable)
  at::Tensor counts_E;   // [E] int64 top-k slot counts (pre-capacity)
  at::Tensor aux_loss;   // scalar: sum of the enabled balance terms (differentiable)
  double switch_loss = 0, seq_loss = 0, z_loss = 0;  // values of each term (already scaled)
  int64_t bias_changed = 0;                          // top-k choices that differ from the unbiased top-k
};

class RouterImpl : public torch::nn::Module {
 public:
  explicit RouterImpl(const ModelConfig& cfg);
  // x_BSD: [B, S, D] -> routing of the B*S tokens.
  Routing forward(const at::Tensor& x_BSD);

  // DeepSeek-V3 bias update from one optimizer step's slot counts (all micro-batches):
  //   b_i += u * sign(mean_load - load_i); optionally minus the mean of the update.
  void update_bias(const at::Tensor& counts_E);

  const MoEConfig& cfg() const { return cfg_; }
  const RouterKnobs& knobs() const { return knobs_; }
  void set_knob(Knob k, double value) { knobs_.set(k, value); }
  void set_knobs(const RouterKnobs& k) { knobs_ = k; }  // a checkpoint's saved knobs
  at::Tensor weight;                                    // [E, D] router weight (fp32 master)
  at::Tensor bias;                                      // [E] fp32 buffer "e_score_correction_bias"; not a parameter

 private:
  MoEConfig cfg_;
  RouterKnobs knobs_;
};
TORCH_MODULE(Router);

}  // namespace moescope
