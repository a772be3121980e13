// moe.cpp: see moe.h.
#include "model/moe.h"

#include "dist/collectives.h"
#include "model/expert_parallel.h"
#include "model/init.h"
#include "ops/attention_core.h"
#include "ops/grouped_swiglu.h"
#include "ops/swiglu.h"

namespace moescope {
namespace {
thread_local bool g_recompute = false;
}  // namespace

RecomputeScope::RecomputeScope() : prev_(g_recompute) { g_recompute = true; }
RecomputeScope::~RecomputeScope() { g_recompute = prev_; }
bool RecomputeScope::active() { return g_recompute; }

SwiGLUMlpImpl::SwiGLUMlpImpl(int64_t d_model, int64_t hidden, double init_std, double out_std) {
  gate_proj = register_module("gate_proj", make_linear(d_model, hidden, init_std));
  up_proj = register_module("up_proj", make_linear(d_model, hidden, init_std));
  down_proj = register_module("down_proj", make_linear(hidden, d_model, out_std));
}

at::Tensor SwiGLUMlpImpl::forward(const at::Tensor& x_ND) {
  return swiglu(x_ND, gate_proj->weight, up_proj->weight, down_proj->weight);
}

MoELayerImpl::MoELayerImpl(const ModelConfig& cfg, int64_t n_layers_for_init) : policy_(cfg.moe.drop_policy) {
  const double out_std = residual_out_std(cfg.init_std, n_layers_for_init);
  gate = register_module("gate", Router(cfg));
  const MoEConfig& mc = gate->cfg();
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < mc.n_routed; ++e)
    experts->push_back(SwiGLUMlp(cfg.d_model, mc.expert_hidden, cfg.init_std, out_std));
  if (mc.n_shared > 0) {
    int64_t h = mc.shared_hidden > 0 ? mc.shared_hidden : mc.n_shared * mc.expert_hidden;
    shared_experts = register_module("shared_experts", SwiGLUMlp(cfg.d_model, h, cfg.init_std, out_std));
    if (mc.shared_expert_gate)
      shared_expert_gate = register_module("shared_expert_gate", make_linear(cfg.d_model, 1, cfg.init_std));
  }
  pending_counts_E_ = torch::zeros({mc.n_routed}, torch::kLong);
  aux_loss_ = torch::zeros({});
}

at::Tensor MoELayerImpl::routed_forward(const at::Tensor& x_TD, const Routing& r, DispatchPlan* plan) {
  const MoEConfig& mc = cfg();
  *plan = plan_dispatch(r.expert_TK, r.weight_TK, mc.n_routed, mc.capacity_factor, policy_);
  auto y_TD = torch::zeros_like(x_TD);
  if (plan->offsets.back() == 0) return y_TD;  // everything dropped
  std::vector<int64_t> sizes(mc.n_routed);
  std::vector<at::Tensor> wg(mc.n_routed), wu(mc.n_routed), wd(mc.n_routed);
  for (int64_t e = 0; e < mc.n_routed; ++e) {
    sizes[e] = plan->offsets[e + 1] - plan->offsets[e];
    auto* ex = experts[e]->as<SwiGLUMlpImpl>();
    wg[e] = ex->gate_proj->weight;
    wu[e] = ex->up_proj->weight;
    wd[e] = ex->down_proj->weight;
  }
  auto x_AD = x_TD.index_select(0, plan->token_A);
  auto w_A = r.weight_TK.reshape({-1}).index_select(0, plan->slot_A);
  auto y_AD = grouped_swiglu(x_AD, w_A, sizes, wg, wu, wd);  // gate weights already applied
  return y_TD.index_add(0, plan->token_A, y_AD);
}

at::Tensor MoELayerImpl::direct_forward(const at::Tensor& x_TD, const Routing& r) {
  const int64_t T = r.expert_TK.size(0), K = r.expert_TK.size(1);
  auto e_TK = r.expert_TK.contiguous();
  const int64_t* e = e_TK.data_ptr<int64_t>();
  at::Tensor y_TD;
  for (int64_t t = 0; t < T; ++t) {
    auto x_1D = x_TD.narrow(0, t, 1);
    at::Tensor y_1D;
    for (int64_t k = 0; k < K; ++k) {
      auto* ex = experts[e[t * K + k]]->as<SwiGLUMlpImpl>();
      auto yk = ex->forward(x_1D).mul_(cast_to(r.weight_TK.narrow(0, t, 1).narrow(1, k, 1), x_TD.scalar_type()));
      y_1D = y_1D.defined() ? y_1D.add_(yk) : yk;
    }
    if (T == 1) return y_1D;
    if (!y_TD.defined()) y_TD = torch::empty_like(x_TD);
    y_TD.narrow(0, t, 1).copy_(y_1D);
  }
  return y_TD;
}

at::Tensor MoELayerImpl::forward(const at::Tensor& x_BSD) {
  const auto sizes = x_BSD.sizes().vec();
  auto x_TD = x_BSD.reshape({-1, sizes.back()});
  Routing r = gate->forward(x_BSD);
  const MoEConfig& mc = cfg();
  const int64_t T = x_TD.size(0);
  const bool direct = !is_training() && !torch::GradMode::is_enabled() && x_TD.device().is_cpu() &&
                      T * mc.top_k <= kDirectMaxAssignments && (mc.capacity_factor <= 0 || T == 1);
  DispatchPlan plan;
  at::Tensor y_TD;
  if (direct) {
    y_TD = direct_forward(x_TD, r);
    plan.n_dropped = 0;
    plan.capacity = expert_capacity(mc.capacity_factor, T, mc.top_k, mc.n_routed);
  } else if (dist::Group* g = dist::ExpertParallelScope::group(); g && is_training()) {
    y_TD = ep_routed_forward(*this, x_TD, r, *g, &plan);  // experts on their owners' ranks
  } else {
    y_TD = routed_forward(x_TD, r, &plan);
  }
  if (!shared_experts.is_empty()) {
    auto s_TD = shared_experts->forward(x_TD);
    if (!shared_expert_gate.is_empty()) s_TD = s_TD * torch::sigmoid(linear_cast(x_TD, shared_expert_gate->weight));
    y_TD = y_TD + s_TD;
  }
  aux_loss_ = r.aux_loss;

  if (c10::InferenceMode::is_enabled()) {
    last_.valid = false;  // decoding: nothing reads the routing record (the microscope never runs here)
  } else if (!RecomputeScope::active()) {
    torch::NoGradGuard ng;
    last_.expert_TK = r.expert_TK;
    last_.weight_TK = r.weight_TK.detach();
    last_.scores_TE = r.scores_TE.detach();
    last_.logits_TE = r.logits_TE.detach();
    last_.counts_E = r.counts_E;
    last_.kept_E = direct ? r.counts_E : torch::diff(torch::tensor(plan.offsets, torch::kLong));
    last_.keep_TK = direct ? torch::ones_like(r.expert_TK, torch::kBool) : plan.keep_TK;
    last_.n_tokens = x_TD.size(0);
    last_.n_dropped = plan.n_dropped;
    last_.capacity = plan.capacity;
    last_.bias_changed = r.bias_changed;
    last_.switch_loss = r.switch_loss;
    last_.seq_loss = r.seq_loss;
    last_.z_loss = r.z_loss;
    last_.valid = true;
    if (is_training()) pending_counts_E_ = pending_counts_E_ + r.counts_E.to(pending_counts_E_.device());
  }
  return y_TD.view(sizes);
}

void MoELayerImpl::update_bias() {
  if (gate->knobs().bias_balance && pending_counts_E_.sum().item<int64_t>() > 0) gate->update_bias(pending_counts_E_);
  pending_counts_E_ = torch::zeros_like(pending_counts_E_);
}

}  // namespace moescope
