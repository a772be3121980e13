// microscope.cpp: see microscope.h. Definitions of every metric: docs/metrics.md.
#include "scope/microscope.h"

#include "dist/process_group.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <iostream>

#include "run/log_fields.h"
#include "run/log_record.h"
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

void Microscope::on_resume(int64_t step) {
  if (!writer_) {  // rank 0 replays the log; its resulting state reaches this rank by broadcast
    share_interval_counter();
    reset_interval();
    return;
  }
  log_->truncate_alerts_after(step);
  const std::string path = metrics_path(ctx_.run_dir);
  auto log = read_jsonl(path);
  // The replay must see the log as written: a record of the wrong shape is an error naming its
  // line, field and expected type (log_record.h), not nlohmann's bare type_error.
  std::map<std::pair<int64_t, int64_t>, std::vector<nlohmann::json>> events;  // (step, layer) -> actions
  for (size_t i = 0; i < log.records.size(); ++i) {
    const nlohmann::json& r = log.records[i];
    const std::string where = log_where(path, log.line_numbers[i]);
    if (string_field(r, f::kType, where).value_or("") != f::kRemediation) continue;
    const int64_t s = require_integer(r, f::kStep, where);
    if (s > step) continue;
    string_field(r, f::kAction, where);
    number_field(r, f::kTo, where);
    events[{s, require_integer(r, f::kLayer, where)}].push_back(r);
  }
  const std::vector<nlohmann::json> none;
  for (size_t i = 0; i < log.records.size(); ++i) {
    const nlohmann::json& r = log.records[i];
    const std::string where = log_where(path, log.line_numbers[i]);
    if (string_field(r, f::kType, where).value_or("") != f::kTrain) continue;
    const nlohmann::json* moe_entries = array_field(r, f::kMoe, where);
    if (!moe_entries) continue;
    const int64_t s = require_integer(r, f::kStep, where);
    if (s > step) continue;
    for (auto& l : *moe_entries) {
      if (!l.is_object() || !l.contains(f::kCounts) || !l.contains(f::kLayer)) continue;
      const int64_t L = require_integer(l, f::kLayer, where);
      const nlohmann::json& counts = *array_field(l, f::kCounts, where);
      for (const auto& c : counts)
        if (!c.is_number_integer()) throw std::runtime_error(field_type_error(where, "moe[].counts[]", "an integer", c));
      auto at = std::find(layer_index_.begin(), layer_index_.end(), L);
      if (at == layer_index_.end())
        throw std::runtime_error(metrics_path(ctx_.run_dir) + ": step " + std::to_string(s) + " logs MoE layer " +
                                 std::to_string(L) + ", which this model does not have");
      const size_t idx = static_cast<size_t>(at - layer_index_.begin());
      log_->detector().observe(s, L, load_metrics(counts.get<std::vector<int64_t>>(), moe_[idx]->cfg().top_k),
                        {number_field(l, f::kMaxVioBatch, where).value_or(0.0), number_field(l, f::kDropRate, where).value_or(0.0)});
      auto ev = events.find({s, L});
      try {
        remediator_.replay_interval(L, ev == events.end() ? none : ev->second, *moe_[idx],
                                    /*restore_knobs=*/!ctx_.knobs_in_checkpoint);
      } catch (const nlohmann::json::exception& e) {  // e.g. a remediation record without "to"
        throw std::runtime_error(path + ": remediation record for step " + std::to_string(s) + ", layer " + std::to_string(L) +
                                 " is malformed: " + e.what());
      }
    }
    ++interval_;
  }
  share_interval_counter();
  reset_interval();
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

nlohmann::json Microscope::probe_saturation() {
  // Routing of a fixed probe batch (the first validation windows) vs its previous sample.
  auto model = ctx_.model;
  const bool was = model->is_training();
  model->eval();
  {
    torch::NoGradGuard ng;
    model->forward(ctx_.probe_tokens);
  }
  if (was) model->train();
  nlohmann::json out = nlohmann::json::array();
  std::vector<at::Tensor> now;
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto cur = moe_[i]->last().expert_TK.to(torch::kCPU);
    now.push_back(cur);
    nlohmann::json v = nullptr;
    if (i < probe_prev_.size()) {
      const int64_t E = moe_[i]->cfg().n_routed, K = cur.size(1);
      auto a = torch::zeros({cur.size(0), E}).scatter_(1, cur, 1.0);
      auto b = torch::zeros({cur.size(0), E}).scatter_(1, probe_prev_[i], 1.0);
      v = ((a * b).sum(1) / double(K)).mean().item<double>();
    }
    out.push_back({{f::kLayer, layer_index_[i]}, {"topk_overlap", v}});
  }
  probe_prev_ = now;
  return out;
}

std::vector<double> Microscope::live_bias(size_t i) const {
  auto b = moe_[i]->gate->bias.to(torch::kCPU).to(torch::kDouble).contiguous();
  return std::vector<double>(b.data_ptr<double>(), b.data_ptr<double>() + b.numel());
}

void Microscope::report_alerts(int64_t step, int64_t L, const std::vector<Alert>& alerts) {
  for (auto& al : alerts) {  // alerts.jsonl has them already (RoutingLog)
    console_ << "scope: " << al.severity << " layer " << L << " " << al.rule << " at step " << step
             << " (since step " << al.began_step << "): " << al.evidence.dump() << "; fix: " << al.fix << "\n";
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
