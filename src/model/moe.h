// moe.h: the DeepSeekMoE layer: shared SwiGLU expert(s) + top-k routed SwiGLU experts.
//
// Legend: B batch, S sequence, T = B*S tokens, D width, E routed experts, K top-k,
//         F routed expert hidden, A kept assignments grouped by expert.
//   y_TD = shared(x_TD) [* sigmoid(x_TD w_gate^T), Qwen2-MoE] + sum_{j<K, kept} weight_TK[t,j] *
//   expert_{expert_TK[t,j]}(x_t)
// Dispatch: tokens are sorted by expert (ops/dispatch.h) and every expert runs its matmuls
// once over its contiguous block (ops/grouped_swiglu.h, one autograd node for all experts);
// outputs, already scaled by the gate weights, are scattered back with index_add.
// Parameter names follow Hugging Face DeepSeek-V3: gate.weight, gate.e_score_correction_bias,
// experts.{i}.{gate,up,down}_proj.weight, shared_experts.{gate,up,down}_proj.weight.
#pragma once
#include <torch/torch.h>

#include "core/config.h"
#include "model/router.h"
#include "ops/dispatch.h"

namespace moescope {

// One SwiGLU MLP with Hugging Face names (gate_proj, up_proj, down_proj; no biases).
class SwiGLUMlpImpl : public torch::nn::Module {
 public:
  SwiGLUMlpImpl(int64_t d_model, int64_t hidden, double init_std, double out_std);
  at::Tensor forward(const at::Tensor& x_ND);
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGLUMlp);

// What the last forward decided (detached), for the metrics layer.
struct RoutingRecord {
  at::Tensor expert_TK, weight_TK, scores_TE, logits_TE;  // detached copies of the routing
  at::Tensor counts_E;                                    // [E] routed slot counts (pre-capacity), int64
  at::Tensor kept_E;                                      // [E] slots actually computed (post-capacity), int64
  at::Tensor keep_TK;                                     // [T, K] bool; false = dropped for capacity
  int64_t n_tokens = 0, n_dropped = 0, capacity = -1, bias_changed = 0;
  double switch_loss = 0, seq_loss = 0, z_loss = 0;
  bool valid = false;
};

// Activation recomputation re-runs forwards; inside this scope routing is not recorded or
// counted again, so the per-step counts (and the bias update) see each token once.
class RecomputeScope {
 public:
  RecomputeScope();
  ~RecomputeScope();
  static bool active();

 private:
  bool prev_;
};

class MoELayerImpl : public torch::nn::Module {
 public:
  MoELayerImpl(const ModelConfig& cfg, int64_t n_layers_for_init);
  // x_BSD: [B, S, D] -> [B, S, D]. Sets aux_loss() and last().
  at::Tensor forward(const at::Tensor& x_BSD);

  at::Tensor aux_loss() const { return aux_loss_; }  // scalar, differentiable
  const RoutingRecord& last() const { return last_; }
  // Slot counts accumulated over training forwards since the last update_bias() (all micro-batches).
  at::Tensor pending_counts() const { return pending_counts_E_; }
  void set_pending_counts(const at::Tensor& c) { pending_counts_E_ = c; }  // e.g. after an all-reduce
  // Applies the aux-loss-free bias update from the pending counts and clears them.
  void update_bias();

  // The static MoE config: the router's (one copy); the live balancing knobs are gate->knobs().
  const MoEConfig& cfg() const { return gate->cfg(); }
  Router gate{nullptr};
  torch::nn::ModuleList experts{nullptr};
  SwiGLUMlp shared_experts{nullptr};  // null when n_shared == 0
  // moe.shared_expert_gate (Qwen2-MoE): shared(x) is scaled by sigmoid(x . w), w [1, D].
  torch::nn::Linear shared_expert_gate{nullptr};

  // Routed-expert contribution for a given routing, by sorted dispatch (the fast path).
  // x_TD [T, D], routing weights [T, K]. Returns [T, D] and the plan used.
  at::Tensor routed_forward(const at::Tensor& x_TD, const Routing& r, DispatchPlan* plan);
  // Routed-expert contribution without a dispatch plan, for inference with few assignments
  // (decoding: T*K <= kDirectMaxAssignments on the CPU): each chosen expert runs on its own rows;
  // no sort, no bincount, nothing read back from the device. Dropless by construction, so it is
  // used only when no capacity applies (dropless, or one token: top-k experts are distinct).
  at::Tensor direct_forward(const at::Tensor& x_TD, const Routing& r);
  static constexpr int64_t kDirectMaxAssignments = 16;

 private:
  DropPolicy policy_;
  at::Tensor aux_loss_, pending_counts_E_;
  RoutingRecord last_;
};
TORCH_MODULE(MoELayer);

}  // namespace moescope
