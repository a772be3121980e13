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
#include "run/run_layout.h"
#include "scope/metrics.h"

namespace moescope {
namespace f = log_field;
namespace {
std::vector<int64_t> to_vec(const at::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
void add_into(std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.empty()) a.assign(b.size(), 0);
  for (size_t i = 0; i < b.size(); ++i) a[i] += b[i];
}
nlohmann::json spread_json(const CountSpread& s) {
  return {{"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"min", s.min}, {"max", s.max}, {"cv", s.cv}};
}
void spread_to_tensorboard(TfEventsWriter& tb, const std::string& prefix, const CountSpread& s, int64_t step) {
  const nlohmann::json j = spread_json(s);
  for (auto it = j.begin(); it != j.end(); ++it) tb.add_scalar(prefix + it.key(), it->get<float>(), step);
}
double grad_norm(const std::vector<at::Tensor>& ps) {
  double s = 0;
  for (auto& p : ps)
    if (p.grad().defined()) s += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(s);
}
}  // namespace

Microscope::Microscope(ScopeContext ctx, const ScopeConfig& cfg, std::ostream& console)
    : ctx_(std::move(ctx)), cfg_(cfg), console_(console), detector_(cfg), remediator_(cfg) {
  auto& layers = *ctx_.model->layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto* blk = layers[l]->as<BlockImpl>();
    if (blk->is_moe()) {
      moe_.push_back(blk->moe.get());
      layer_index_.push_back(static_cast<int64_t>(l));
    }
  }
  acc_.resize(moe_.size());
  writer_ = ctx_.group == nullptr || ctx_.group->rank() == 0;
  if (!writer_) {  // a rank > 0 accumulates and joins the reductions; rank 0 writes
    reset_interval();
    return;
  }
  alerts_ = std::make_unique<JsonlWriter>(alerts_path(ctx_.run_dir), true);
  if (cfg_.tensorboard) tb_ = std::make_unique<TfEventsWriter>(tensorboard_dir(ctx_.run_dir));
  reset_interval();
}

void Microscope::reset_interval() {
  for (auto& a : acc_) {
    auto val = std::move(a.val_counts);
    a = LayerAcc{};
    a.val_counts = std::move(val);
  }
  coact_now_ = interval_ % cfg_.coact_every == 0;
}

// Validation counts are global on every rank (each evaluates the whole set): rank 0's suffice.
void Microscope::before_eval() {
  if (!writer_) return;
  for (auto& a : acc_) a.val_counts.clear();
}

void Microscope::eval_after_forward() {
  if (!writer_) return;
  for (size_t i = 0; i < moe_.size(); ++i) add_into(acc_[i].val_counts, to_vec(moe_[i]->last().counts_E));
}

void Microscope::eval_observe(const std::vector<RoutingObservation>& layers) {
  if (!writer_) return;
  for (size_t i = 0; i < moe_.size() && i < layers.size(); ++i)
    if (layers[i].valid) add_into(acc_[i].val_counts, layers[i].counts);
}

void Microscope::on_eval(int64_t step, nlohmann::json& rec) {
  if (!writer_) return;
  nlohmann::json layers = nlohmann::json::array();
  double mv_max = 0, mv_mean = 0;
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto m = load_metrics(acc_[i].val_counts, moe_[i]->cfg().top_k);
    mv_max = std::max(mv_max, m.maxvio);
    mv_mean += m.maxvio / double(moe_.size());
    layers.push_back({{f::kLayer, layer_index_[i]}, {f::kMaxVioGlobal, m.maxvio}, {f::kEntropyNorm, m.entropy_norm},
                      {f::kNEff, m.n_eff}, {f::kLoad, m.load}, {f::kTokensPerExpert, spread_json(m.spread)}});
    if (tb_) tb_->add_scalar("moe/layer" + std::to_string(layer_index_[i]) + "/maxvio_global", float(m.maxvio), step);
  }
  rec[f::kMoe] = layers;
  if (!moe_.empty()) rec[f::kMoeSummary] = {{"maxvio_global_max", mv_max}, {"maxvio_global_mean", mv_mean}};
  if (tb_ && rec["val_loss"].is_number()) tb_->add_scalar("val/loss", rec["val_loss"].get<float>(), step);
}

void Microscope::on_resume(int64_t step) {
  if (!writer_) {  // rank 0 replays the log; its resulting state reaches this rank by broadcast
    share_interval_counter();
    reset_interval();
    return;
  }
  const std::string alerts_file = alerts_path(ctx_.run_dir);
  alerts_.reset();
  truncate_jsonl_after(alerts_file, "step", step);
  alerts_ = std::make_unique<JsonlWriter>(alerts_file, true);
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
      detector_.observe(s, L, load_metrics(counts.get<std::vector<int64_t>>(), moe_[idx]->cfg().top_k),
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
  torch::NoGradGuard ng;
  if (layers.size() != moe_.size())
    throw std::invalid_argument("microscope: " + std::to_string(layers.size()) + " layers' routing for " +
                                std::to_string(moe_.size()) + " MoE layers");
  for (size_t i = 0; i < moe_.size(); ++i) {
    const RoutingObservation& r = layers[i];
    if (!r.valid) continue;
    auto& a = acc_[i];
    add_into(a.counts, r.counts);
    add_into(a.step_counts, r.counts);
    add_into(a.kept, r.kept);
    const int64_t T = r.tokens, K = r.expert_TK.size(1), E = static_cast<int64_t>(r.counts.size());
    a.assign += T * K;
    a.dropped += r.dropped;
    a.bias_changed += r.bias_changed;
    a.tokens += T;
    ++a.forwards;
    a.ent_sum += r.ent_sum;
    a.top1_sum += r.top1_sum;
    a.logit_sq += r.logit_sq;
    a.logit_n += r.logit_n;
    a.logit_max = std::max(a.logit_max, r.logit_max);
    a.switch_loss += r.switch_loss;
    a.seq_loss += r.seq_loss;
    a.z_loss += r.z_loss;
    if (coact_now_) {
      auto oh = torch::zeros({T, E}, torch::kDouble).scatter_(1, r.expert_TK.to(torch::kLong), 1.0);
      auto c = oh.t().mm(oh);
      a.coact = a.coact.defined() ? a.coact + c : c;
    }
  }
}

void Microscope::after_step(int64_t step) {
  for (size_t i = 0; i < moe_.size(); ++i) {
    auto& a = acc_[i];
    a.step_hist.push_back(a.step_counts);
    std::fill(a.step_counts.begin(), a.step_counts.end(), 0);
    // The bias after this step's update: the interval's mean and range, not a snapshot.
    auto b = moe_[i]->gate->bias.to(torch::kCPU).to(torch::kDouble).contiguous();
    const double* p = b.data_ptr<double>();
    if (a.bias_steps == 0) {
      a.bias_sum.assign(p, p + b.numel());
      a.bias_lo = a.bias_hi = a.bias_sum;
    } else {
      for (int64_t e = 0; e < b.numel(); ++e) {
        a.bias_sum[e] += p[e];
        a.bias_lo[e] = std::min(a.bias_lo[e], p[e]);
        a.bias_hi[e] = std::max(a.bias_hi[e], p[e]);
      }
    }
    ++a.bias_steps;
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

nlohmann::json Microscope::layer_record(size_t i, const LoadMetrics& m, double mv_batch) {
  const auto& a = acc_[i];
  const int64_t L = layer_index_[i];
  // The bias: mean over the interval's steps (the live buffer when no step ended in it).
  std::vector<double> bv = a.bias_sum, lo = a.bias_lo, hi = a.bias_hi;
  if (a.bias_steps == 0) {
    auto b = moe_[i]->gate->bias.to(torch::kCPU).to(torch::kDouble).contiguous();
    bv.assign(b.data_ptr<double>(), b.data_ptr<double>() + b.numel());
    lo = hi = bv;
  } else {
    for (double& v : bv) v /= double(a.bias_steps);
  }
  auto bias = torch::tensor(bv, torch::kDouble);
  const auto& sp = m.spread;
  const double per_forward = a.forwards ? 1.0 / double(a.forwards) : 0.0;
  nlohmann::json j{{f::kLayer, L}, {f::kCounts, a.counts}, {f::kLoad, m.load}, {f::kEntropyNorm, m.entropy_norm},
                   {f::kNEff, m.n_eff}, {"cv", m.cv}, {"min_max_ratio", m.min_max_ratio},
                   {f::kMaxVioBatch, mv_batch}, {f::kDead, m.dead},
                   {f::kStarved, starved_experts(m, cfg_.starved_share)}, {f::kMaxTokenShare, m.max_token_share},
                   {f::kTokensPerExpert, spread_json(sp)},
                   {f::kRouterEntropy, a.tokens ? a.ent_sum / double(a.tokens) : 0.0},
                   {"top1_score", a.tokens ? a.top1_sum / double(a.tokens) : 0.0},
                   {"logit_rms", a.logit_n ? std::sqrt(a.logit_sq / double(a.logit_n)) : 0.0},
                   {"logit_max", a.logit_max},
                   {f::kDropRate, a.assign ? double(a.dropped) / double(a.assign) : 0.0},
                   {f::kBias, bv}, {"bias_lo", lo}, {"bias_hi", hi},
                   {"bias_min", bias.min().item<double>()}, {"bias_max", bias.max().item<double>()},
                   {"bias_std", bias.std(false).item<double>()},
                   {"bias_intervention", a.assign ? double(a.bias_changed) / double(a.assign) : 0.0},
                   {"balance_loss", a.switch_loss * per_forward}, {"seq_balance_loss", a.seq_loss * per_forward}, {"z_loss", a.z_loss * per_forward},
                   {"router_grad_norm", a.router_grad}, {f::kExpertGradNorm, a.expert_grad},
                   {f::kStatus, detector_.status(L)}};
  if (ctx_.forward_only) {  // no gradients at inference
    j.erase("router_grad_norm");
    j.erase(f::kExpertGradNorm);
  }
  if (a.coact.defined()) {
    auto c = a.coact.to(torch::kLong).contiguous();
    std::vector<std::vector<int64_t>> mat;
    for (int64_t r = 0; r < c.size(0); ++r) mat.push_back(to_vec(c[r]));
    j[f::kCoactivation] = mat;
  }
  return j;
}

void Microscope::report_alerts(int64_t step, int64_t L, const std::vector<Alert>& alerts) {
  for (auto& al : alerts) {
    alerts_->write(al.to_json());
    console_ << "scope: " << al.severity << " layer " << L << " " << al.rule << " at step " << step
             << " (since step " << al.began_step << "): " << al.evidence.dump() << "; fix: " << al.fix << "\n";
  }
}

void Microscope::remediate(int64_t step, size_t i, const LoadMetrics& m, double mv_batch, double router_entropy) {
  const int64_t L = layer_index_[i];
  const bool unhealthy = detector_.collapsed(L) || detector_.streak(L, "starved_experts") >= cfg_.window ||
                         detector_.streak(L, "high_drop_rate") >= cfg_.window ||
                         (!moe_[i]->gate->knobs().bias_balance && detector_.streak(L, "high_maxvio") >= cfg_.window);
  for (auto& ev : remediator_.act(step, L, unhealthy, *moe_[i], m, mv_batch, router_entropy, ctx_.optimizer)) {
    if (ctx_.log_event) ctx_.log_event(ev);
    console_ << "scope: remediation layer " << L << ": " << ev.dump() << "\n";
  }
}

void Microscope::layer_to_tensorboard(int64_t step, size_t i, const LoadMetrics& m, const nlohmann::json& j) {
  const auto& a = acc_[i];
  const std::string p = "moe/layer" + std::to_string(layer_index_[i]) + "/";
  tb_->add_scalar(p + "entropy_norm", float(m.entropy_norm), step);
  tb_->add_scalar(p + "n_eff", float(m.n_eff), step);
  tb_->add_scalar(p + "maxvio_batch", float(j["maxvio_batch"].get<double>()), step);
  tb_->add_scalar(p + "drop_rate", float(j["drop_rate"].get<double>()), step);
  tb_->add_scalar(p + "router_entropy", float(j["router_entropy"].get<double>()), step);
  tb_->add_scalar(p + "bias_std", float(j["bias_std"].get<double>()), step);
  spread_to_tensorboard(*tb_, p + "tokens_per_expert/", m.spread, step);
  std::vector<double> limits, counts;
  double sum = 0, sq = 0;
  for (size_t e = 0; e < m.load.size(); ++e) {
    limits.push_back(double(e) + 0.5);
    counts.push_back(double(a.counts.empty() ? 0 : a.counts[e]));
    sum += double(e) * counts.back();
    sq += double(e) * double(e) * counts.back();
  }
  tb_->add_histogram(p + "load", limits, counts, 0, double(m.load.size() - 1), double(m.total), sum, sq, step);
}

void Microscope::train_to_tensorboard(int64_t step, const nlohmann::json& rec) {
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
  nlohmann::json layers = nlohmann::json::array();
  std::vector<int64_t> all_counts;  // every layer's tokens per expert, pooled
  double mv_max = 0, mv_mean = 0;
  for (size_t i = 0; i < moe_.size(); ++i) {
    const auto& a = acc_[i];
    const int64_t L = layer_index_[i];
    const auto m = load_metrics(a.counts, moe_[i]->cfg().top_k);
    double mv_batch = 0;  // MaxVio of each step's counts, averaged over the interval's steps
    for (const auto& c : a.step_hist) mv_batch += maxvio(c) / double(a.step_hist.size());
    all_counts.insert(all_counts.end(), a.counts.begin(), a.counts.end());
    mv_max = std::max(mv_max, mv_batch);
    mv_mean += mv_batch / double(moe_.size());
    const double drop = a.assign ? double(a.dropped) / double(a.assign) : 0.0;
    const auto alerts = detector_.observe(step, L, m, {mv_batch, drop});
    nlohmann::json j = layer_record(i, m, mv_batch);
    report_alerts(step, L, alerts);
    if (cfg_.remediate && !ctx_.forward_only) remediate(step, i, m, mv_batch, j[f::kRouterEntropy].get<double>());
    if (tb_) layer_to_tensorboard(step, i, m, j);
    layers.push_back(j);
  }
  rec[f::kMoe] = layers;
  if (!moe_.empty()) {
    const auto spread = count_spread(all_counts);
    rec[f::kMoeSummary] = {{f::kTokensPerExpert, spread_json(spread)}, {"maxvio_batch_max", mv_max},
                           {"maxvio_batch_mean", mv_mean}};
    if (tb_) {
      spread_to_tensorboard(*tb_, "moe/all/tokens_per_expert/", spread, step);
      tb_->add_scalar("moe/all/maxvio_batch_max", float(mv_max), step);
      tb_->add_scalar("moe/all/maxvio_batch_mean", float(mv_mean), step);
    }
  }
  if (coact_now_ && !ctx_.forward_only) rec[f::kSaturation] = probe_saturation();
  if (tb_) train_to_tensorboard(step, rec);
  ++interval_;
  reset_interval();
}

}  // namespace moescope
