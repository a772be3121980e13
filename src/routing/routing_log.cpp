// routing_log.cpp: see routing_log.h. Definitions of every figure: docs/metrics.md.
#include "routing/routing_log.h"

#include <algorithm>
#include <stdexcept>

#include "run/log_fields.h"
#include "run/run_dir.h"

namespace moescope {
namespace f = log_field;
namespace {
void spread_to_tensorboard(TfEventsWriter& tb, const std::string& prefix, const CountSpread& s, int64_t step) {
  const nlohmann::json j = spread_json(s);
  for (auto it = j.begin(); it != j.end(); ++it) tb.add_scalar(prefix + it.key(), it->get<float>(), step);
}
}  // namespace

RoutingLog::RoutingLog(std::vector<RoutingLayer> layers, const ScopeConfig& cfg, const std::string& run_dir,
                       bool writer)
    : layers_(std::move(layers)), cfg_(cfg), run_dir_(run_dir), writer_(writer), detector_(cfg) {
  for (const auto& l : layers_)
    if (l.experts < 1 || l.top_k < 1 || l.top_k > l.experts)
      throw std::invalid_argument("routing log: layer " + std::to_string(l.layer) + " has " +
                                  std::to_string(l.experts) + " experts and top_k " + std::to_string(l.top_k) +
                                  " (need 1 <= top_k <= experts)");
  if (!writer_) return;
  alerts_ = std::make_unique<JsonlWriter>(alerts_path(run_dir_), true);
  if (cfg_.tensorboard) tb_ = std::make_unique<TfEventsWriter>(tensorboard_dir(run_dir_));
}

void RoutingLog::truncate_alerts_after(int64_t step) {
  if (!writer_) return;
  const std::string path = alerts_path(run_dir_);
  alerts_.reset();
  truncate_jsonl_after(path, "step", step);
  alerts_ = std::make_unique<JsonlWriter>(path, true);
}

void RoutingLog::layer_to_tensorboard(int64_t step, const RoutingLayer& l, const std::vector<int64_t>& counts,
                                      const LoadMetrics& m, const nlohmann::json& j) {
  const std::string p = "moe/layer" + std::to_string(l.layer) + "/";
  tb_->add_scalar(p + "entropy_norm", float(m.entropy_norm), step);
  tb_->add_scalar(p + "n_eff", float(m.n_eff), step);
  tb_->add_scalar(p + "maxvio_batch", float(j[f::kMaxVioBatch].get<double>()), step);
  tb_->add_scalar(p + "drop_rate", float(j[f::kDropRate].get<double>()), step);
  if (j.contains(f::kRouterEntropy))
    tb_->add_scalar(p + "router_entropy", float(j[f::kRouterEntropy].get<double>()), step);
  if (j.contains("bias_std")) tb_->add_scalar(p + "bias_std", float(j["bias_std"].get<double>()), step);
  tb_->add_scalar(p + "status_level", float(status_level(j[f::kStatus].get<std::string>())), step);
  spread_to_tensorboard(*tb_, p + "tokens_per_expert/", m.spread, step);
  std::vector<double> limits, hist;
  double sum = 0, sq = 0;
  for (size_t e = 0; e < m.load.size(); ++e) {
    limits.push_back(double(e) + 0.5);
    hist.push_back(double(counts.empty() ? 0 : counts[e]));
    sum += double(e) * hist.back();
    sq += double(e) * double(e) * hist.back();
  }
  tb_->add_histogram(p + "load", limits, hist, 0, double(m.load.size() - 1), double(m.total), sum, sq, step);
}

std::vector<RoutingLog::LayerOutcome> RoutingLog::log(int64_t step, const std::vector<LayerInterval>& acc,
                                                      const std::vector<std::vector<double>>& live_bias, bool gradients,
                                                      nlohmann::json& rec) {
  if (acc.size() != layers_.size())
    throw std::invalid_argument("routing log: " + std::to_string(acc.size()) + " layers' intervals for " +
                                std::to_string(layers_.size()) + " MoE layers");
  std::vector<LayerOutcome> out(layers_.size());
  nlohmann::json layers = nlohmann::json::array();
  std::vector<int64_t> all_counts;  // every layer's tokens per expert, pooled
  double mv_max = 0, mv_mean = 0;
  static const std::vector<double> no_bias;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& a = acc[i];
    const int64_t L = layers_[i].layer;
    LayerOutcome& o = out[i];
    o.m = a.load(layers_[i].top_k);
    o.maxvio_batch = a.maxvio_batch();
    all_counts.insert(all_counts.end(), a.counts.begin(), a.counts.end());
    mv_max = std::max(mv_max, o.maxvio_batch);
    mv_mean += o.maxvio_batch / double(layers_.size());
    o.alerts = detector_.observe(step, L, o.m, {o.maxvio_batch, a.drop_rate()});
    nlohmann::json j =
        a.record(L, o.m, i < live_bias.size() ? live_bias[i] : no_bias, cfg_, detector_.status(L), gradients);
    for (const auto& al : o.alerts)
      if (alerts_) alerts_->write(al.to_json());
    if (tb_) layer_to_tensorboard(step, layers_[i], a.counts, o.m, j);
    layers.push_back(std::move(j));
  }
  rec[f::kMoe] = layers;
  if (!layers_.empty()) {
    const auto spread = count_spread(all_counts);
    rec[f::kMoeSummary] = {
        {f::kTokensPerExpert, spread_json(spread)}, {f::kMaxVioBatchMax, mv_max}, {"maxvio_batch_mean", mv_mean}};
    if (tb_) {
      spread_to_tensorboard(*tb_, "moe/all/tokens_per_expert/", spread, step);
      tb_->add_scalar("moe/all/maxvio_batch_max", float(mv_max), step);
      tb_->add_scalar("moe/all/maxvio_batch_mean", float(mv_mean), step);
    }
  }
  return out;
}

void RoutingLog::log_eval(int64_t step, const std::vector<std::vector<int64_t>>& counts, nlohmann::json& rec) {
  nlohmann::json layers = nlohmann::json::array();
  double mv_max = 0, mv_mean = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    static const std::vector<int64_t> none;
    auto m = load_metrics(i < counts.size() ? counts[i] : none, layers_[i].top_k);
    mv_max = std::max(mv_max, m.maxvio);
    mv_mean += m.maxvio / double(layers_.size());
    layers.push_back({{f::kLayer, layers_[i].layer},
                      {f::kMaxVioGlobal, m.maxvio},
                      {f::kEntropyNorm, m.entropy_norm},
                      {f::kNEff, m.n_eff},
                      {f::kLoad, m.load},
                      {f::kTokensPerExpert, spread_json(m.spread)}});
    if (tb_) tb_->add_scalar("moe/layer" + std::to_string(layers_[i].layer) + "/maxvio_global", float(m.maxvio), step);
  }
  rec[f::kMoe] = layers;
  if (!layers_.empty()) rec[f::kMoeSummary] = {{"maxvio_global_max", mv_max}, {"maxvio_global_mean", mv_mean}};
}

}  // namespace moescope
