// router.cpp: see router.h.
#include "model/router.h"

#include <limits>

#include "dist/collectives.h"
#include "ops/attention_core.h"

namespace moescope {

RouterImpl::RouterImpl(const ModelConfig& cfg) : cfg_(cfg.moe), knobs_(RouterKnobs::from_config(cfg.moe)) {
  weight = register_parameter("weight", torch::randn({cfg_.n_routed, cfg.d_model}) * cfg.init_std);
  bias = register_buffer("e_score_correction_bias", torch::zeros({cfg_.n_routed}));
}

Routing RouterImpl::forward(const at::Tensor& x_BSD) {
  TORCH_CHECK(x_BSD.dim() == 3, "router: expected x_BSD [B, S, D], got ", x_BSD.sizes());
  const int64_t B = x_BSD.size(0), S = x_BSD.size(1), T = B * S;
  const int64_t E = cfg_.n_routed, K = cfg_.top_k;
  const auto rdt = x_BSD.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;

  auto x_TD = cast_to(x_BSD.reshape({T, -1}), rdt);
  const RouterKnobs& k = knobs_;
  if (is_training() && k.jitter == Jitter::kInput && k.jitter_eps > 0)
    x_TD = x_TD * torch::empty_like(x_TD).uniform_(1.0 - k.jitter_eps, 1.0 + k.jitter_eps);
  Routing r;
  r.logits_TE = torch::matmul(x_TD, cast_to(weight, rdt).t());
  auto logits_TE = r.logits_TE;
  if (is_training() && k.jitter == Jitter::kLogits && k.jitter_eps > 0)
    logits_TE = logits_TE + torch::randn_like(logits_TE) * k.jitter_eps;
  const bool sigmoid = cfg_.score_func == ScoreFunc::kSigmoid;
  const bool on_logits = cfg_.bias_on_logits && k.bias_balance && !sigmoid;  // validate() rejects it with sigmoid
  r.scores_TE = sigmoid ? torch::sigmoid(logits_TE) : torch::softmax(logits_TE, -1);

  {
    torch::NoGradGuard ng;
    // moe.bias_on_logits: topk(logits + bias) = topk(softmax(logits + bias)) (the seed's choice)
    auto sel_TE = on_logits ? logits_TE.detach() : r.scores_TE.detach();
    if (k.bias_balance) sel_TE = sel_TE + cast_to(bias, rdt);
    auto pick = [&](at::Tensor s_TE) {
      if (cfg_.n_group > 1) {
        const int64_t G = cfg_.n_group, per = E / G;
        auto s_TGP = s_TE.view({T, G, per});
        auto group_TG = (sigmoid && per >= 2) ? std::get<0>(s_TGP.topk(2, -1)).sum(-1) : std::get<0>(s_TGP.max(-1));
        auto top_groups = std::get<1>(group_TG.topk(cfg_.topk_group, -1));
        auto gmask_TG = torch::zeros({T, G}, s_TE.options().dtype(torch::kBool)).scatter_(1, top_groups, true);
        auto emask_TE = gmask_TG.unsqueeze(-1).expand({T, G, per}).reshape({T, E});
        s_TE = s_TE.masked_fill(emask_TE.logical_not(), -std::numeric_limits<double>::infinity());
      }
      return std::get<1>(s_TE.topk(K, -1));
    };
    r.expert_TK = pick(sel_TE);
    // A microscope metric (training and `scope --model`); skipped while decoding (InferenceMode:
    // nothing reads the routing record then).
    if (k.bias_balance && !c10::InferenceMode::is_enabled()) {
      auto plain_TK = pick(r.scores_TE.detach());
      auto m1 = torch::zeros({T, E}, torch::TensorOptions().dtype(torch::kBool).device(x_BSD.device()))
                    .scatter_(1, r.expert_TK, true);
      auto m0 = torch::zeros_like(m1).scatter_(1, plain_TK, true);
      r.bias_changed = m1.logical_and(m0.logical_not()).sum().item<int64_t>();
    }
    r.counts_E = torch::bincount(r.expert_TK.reshape({T * K}), {}, E);
  }

  if (cfg_.bias_in_weights && on_logits) {  // the seed's model: softmax(logits + bias) of the chosen experts
    r.weight_TK = torch::softmax(logits_TE + cast_to(bias, rdt).detach(), -1).gather(1, r.expert_TK);
  } else {
    r.weight_TK = r.scores_TE.gather(1, r.expert_TK);
    if (cfg_.bias_in_weights && k.bias_balance)  // the bias moves the output weights too
      r.weight_TK = r.weight_TK + cast_to(bias, rdt).detach().gather(0, r.expert_TK.reshape({-1})).view_as(r.weight_TK);
  }
  if (cfg_.norm_topk_prob) r.weight_TK = r.weight_TK / (r.weight_TK.sum(-1, true) + 1e-20);
  if (cfg_.routed_scaling_factor != 1.0) r.weight_TK = r.weight_TK * cfg_.routed_scaling_factor;

  r.aux_loss = torch::zeros({}, r.scores_TE.options());
  if (cfg_.aux_loss_alpha > 0 || k.seq_aux_loss_alpha > 0) {
    auto p_TE = sigmoid ? r.scores_TE / (r.scores_TE.sum(-1, true) + 1e-20) : r.scores_TE;
    if (cfg_.aux_loss_alpha > 0) {
      // f_i is a statistic of the whole batch: in a data-parallel step, of the global batch
      // (every rank's shard holds T tokens), so the gradient averaged over ranks is the
      // single-process one.
      auto counts_E = r.counts_E.to(rdt);
      double T_all = static_cast<double>(T);
      if (dist::Group* g = dist::GlobalBatchScope::group()) {
        counts_E = counts_E.to(torch::kCPU).contiguous();
        g->all_reduce_sum(counts_E);
        counts_E = counts_E.to(r.counts_E.device());
        T_all *= g->size();
      }
      auto f_E = counts_E / (static_cast<double>(K) * T_all);
      auto l = cfg_.aux_loss_alpha * E * (f_E * p_TE.mean(0)).sum();
      r.switch_loss = l.item<double>();
      r.aux_loss = r.aux_loss + l;
    }
    if (k.seq_aux_loss_alpha > 0) {
      auto onehot_BSE = torch::zeros({T, E}, p_TE.options()).scatter_(1, r.expert_TK, 1.0).view({B, S, E});
      auto f_BE = onehot_BSE.sum(1) * (static_cast<double>(E) / static_cast<double>(K * S));
      auto P_BE = p_TE.view({B, S, E}).mean(1);
      auto l = k.seq_aux_loss_alpha * (f_BE * P_BE).sum(-1).mean();
      r.seq_loss = l.item<double>();
      r.aux_loss = r.aux_loss + l;
    }
  }
  if (k.z_loss_beta > 0) {
    auto l = k.z_loss_beta * torch::logsumexp(r.logits_TE, -1).pow(2).mean();
    r.z_loss = l.item<double>();
    r.aux_loss = r.aux_loss + l;
  }
  return r;
}

void RouterImpl::update_bias(const at::Tensor& counts_E) {
  torch::NoGradGuard ng;
  TORCH_CHECK(counts_E.numel() == cfg_.n_routed, "update_bias: expected ", cfg_.n_routed, " counts");
  auto load = counts_E.to(bias.device()).to(torch::kFloat);
  auto delta = torch::sign(load.mean() - load) * knobs_.bias_update_rate;
  if (cfg_.bias_zero_center) delta = delta - delta.mean();
  bias.add_(delta);
}

}  // namespace moescope
