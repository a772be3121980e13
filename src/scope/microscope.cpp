// microscope.cpp: see microscope.h: the hooks, the interval accumulators and the log records
// with their alerts, remediation and TensorBoard scalars. A resume's replay of the log is
// microscope_replay.cpp, the probe batch microscope_probe.cpp, the multi-rank reduction
// microscope_ranks.cpp. Definitions of every metric: docs/metrics.md.
#include "scope/microscope.h"

#include "dist/process_group.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <iostream>

#include "run/log_fields.h"
#include "run/run_dir.h"
#include "routing/metrics.h"

namespace moescope {
namespace f = log_field;
namespace {
void add_into(std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.empty()) a.assign(b.size(), 0);
  for (size_t i = 0; i < b.size(); ++i) a[i] += b[i];
}
double grad_norm(const std::vector<at::Tensor>& ps) {
  double s = 0;
  for (auto& p : ps)
    if (p.grad().defined()) s += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(s);
}
}  // namespace

Microscope::Microscope(ScopeContext ctx, const ScopeConfig& cfg, std::ostream& console)
    : ctx_(std::move(ctx)), cfg_(cfg), console_(console), remediator_(cfg) {
  auto& layers = *ctx_.model->layers;
  std::vector<RoutingLayer> routing_layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto* blk = layers[l]->as<BlockImpl>();
    if (blk->is_moe()) {
      moe_.push_back(blk->moe.get());
      layer_index_.push_back(static_cast<int64_t>(l));
      routing_layers.push_back({static_cast<int64_t>(l), blk->moe->cfg().n_routed, blk->moe->cfg().top_k});
    }
  }
  val_counts_.resize(moe_.size());
  writer_ = ctx_.group == nullptr || ctx_.group->rank() == 0;
  // A rank > 0 accumulates and joins the reductions; rank 0 writes.
  log_ = std::make_unique<RoutingLog>(std::move(routing_layers), cfg_, ctx_.run_dir, writer_);
  reset_interval();
}

void Microscope::reset_interval() {
  acc_.clear();
  for (auto* m : moe_) acc_.emplace_back(m->cfg().n_routed);
  coact_now_ = interval_ % cfg_.coact_every == 0;
}

// Validation counts are global on every rank (each evaluates the whole set): rank 0's suffice.
void Microscope::before_eval() {
  if (!writer_) return;
  for (auto& c : val_counts_) c.clear();
}

void Microscope::eval_after_forward() {
  if (!writer_) return;
  for (size_t i = 0; i < moe_.size(); ++i) add_into(val_counts_[i], to_int64_vector(moe_[i]->last().counts_E));
}

void Microscope::eval_observe(const std::vector<RoutingObservation>& layers) {
  if (!writer_) return;
  for (size_t i = 0; i < moe_.size() && i < layers.size(); ++i)
    if (layers[i].valid) add_into(val_counts_[i], layers[i].routing.counts);
}

void Microscope::on_eval(int64_t step, nlohmann::json& rec) {
  if (!writer_) return;
  log_->log_eval(step, val_counts_, rec);
  auto* tb = log_->tensorboard();
  if (tb && rec["val_loss"].is_number()) tb->add_scalar("val/loss", rec["val_loss"].get<float>(), step);
}

void Microscope::observe_forward() {
  std::vector<RoutingObservation> obs;
  for (auto* m : moe_) obs.push_back(observe_routing(m->last(), m->gate->cfg().score_func));
  observe(obs);
}

void Microscope::observe(const std::vector<RoutingObservation>& layers) {
  if (layers.size() != moe_.size())
    throw std::invalid_argument("microscope: " + std::to_string(layers.size()) + " layers' routing for " +
                                std::to_string(moe_.size()) + " MoE layers");
  for (size_t i = 0; i < moe_.size(); ++i)
    if (layers[i].valid) acc_[i].observe(forward_routing(layers[i], coact_now_), coact_now_);
}

void Microscope::after_step(int64_t step) {
  for (size_t i = 0; i < moe_.size(); ++i) {
    // The bias after this step's update: the interval's mean and range, not a snapshot.
    const std::vector<double> bias = live_bias(i);
    acc_[i].end_step(bias.data());
  }
  if (ctx_.forward_only || !writer_ || (step % ctx_.log_every != 0 && step != ctx_.max_steps)) return;
  // Gradient norms (after global clipping; identical on every rank) of each router and each routed expert.
  for (size_t i = 0; i < moe_.size(); ++i) {
    acc_[i].router_grad = grad_norm({moe_[i]->gate->weight});
    acc_[i].expert_grad.clear();
    for (auto& e : *moe_[i]->experts) acc_[i].expert_grad.push_back(grad_norm(e->parameters()));
  }
}

std::vector<double> Microscope::live_bias(size_t i) const {
  auto b = moe_[i]->gate->bias.to(torch::kCPU).to(torch::kDouble).contiguous();
  return std::vector<double>(b.data_ptr<double>(), b.data_ptr<double>() + b.numel());
}

void Microscope::report_alerts(int64_t step, int64_t L, const std::vector<Alert>& alerts) {
  for (auto& al : alerts) {  // alerts.jsonl has them already (RoutingLog)
    console_ << "scope: " << al.severity << " layer " << L << " " << al.rule << " at step " << step << " (since step "
             << al.began_step << "): " << al.evidence.dump() << "; fix: " << al.fix << "\n";
  }
}

void Microscope::remediate(int64_t step, size_t i, const LoadMetrics& m, double mv_batch, double router_entropy) {
  const int64_t L = layer_index_[i];
  const bool unhealthy = ladder_unhealthy(log_->detector(), L, moe_[i]->gate->knobs().bias_balance, cfg_);
  for (auto& ev : remediator_.act(step, L, unhealthy, *moe_[i], m, mv_batch, router_entropy, ctx_.optimizer)) {
    if (ctx_.log_event) ctx_.log_event(ev);
    console_ << "scope: remediation layer " << L << ": " << ev.dump() << "\n";
  }
}

void Microscope::train_to_tensorboard(int64_t step, const nlohmann::json& rec) {
  TfEventsWriter* tb_ = log_->tensorboard();
  if (rec["loss"].is_number()) tb_->add_scalar("train/loss", rec["loss"].get<float>(), step);
  tb_->add_scalar("train/lr", rec["lr"].get<float>(), step);
  if (rec["grad_norm"].is_number()) tb_->add_scalar("train/grad_norm", rec["grad_norm"].get<float>(), step);
  tb_->add_scalar("train/tokens_per_s", rec["tokens_per_s"].get<float>(), step);
  tb_->flush();
}

// Per MoE layer: metrics record, detector (alerts), remediation, TensorBoard; then the probe.
void Microscope::on_log(int64_t step, nlohmann::json& rec) {
  reduce_interval();  // multi-process: the global batch's accumulators on every rank
  if (!writer_) {
    ++interval_;
    reset_interval();
    return;
  }
  std::vector<std::vector<double>> biases;
  for (size_t i = 0; i < moe_.size(); ++i) biases.push_back(live_bias(i));
  const auto outcomes = log_->log(step, acc_, biases, /*gradients=*/!ctx_.forward_only, rec);
  for (size_t i = 0; i < moe_.size(); ++i) {
    const auto& o = outcomes[i];
    report_alerts(step, layer_index_[i], o.alerts);
    if (cfg_.remediate && !ctx_.forward_only) remediate(step, i, o.m, o.maxvio_batch, acc_[i].router_entropy());
  }
  if (coact_now_ && !ctx_.forward_only) rec[f::kSaturation] = probe_saturation();
  if (log_->tensorboard()) train_to_tensorboard(step, rec);
  ++interval_;
  reset_interval();
}

}  // namespace moescope
