// data_parallel.cpp: see data_parallel.h.
#include "train/data_parallel.h"

#include <sstream>

#include <nlohmann/json.hpp>

#include "dist/collectives.h"

namespace moescope {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

void DataParallel::check_same_config(const std::string& config_json) const {
  if (!g_) return;
  const auto hashes = g_->all_gather(static_cast<int64_t>(fnv1a(config_json) >> 1));
  std::ostringstream bad;
  for (size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0]) bad << (bad.tellp() > 0 ? ", " : "") << r;
  if (bad.tellp() > 0)
    throw std::runtime_error("rank " + std::to_string(rank()) + ": the config of rank(s) " + bad.str() +
                             " differs from rank 0's (every rank must be started with the same --config, --set and "
                             "--data; compare their config.json)");
}

void DataParallel::check_batch(int64_t batch_size) const {
  if (batch_size % world() != 0)
    throw std::invalid_argument("train.batch_size = " + std::to_string(batch_size) +
                                " (the global micro-batch) does not divide over " + std::to_string(world()) +
                                " ranks: choose a multiple of WORLD_SIZE");
}

void DataParallel::broadcast_state(Transformer& model, AdamW* opt) const {
  if (!g_) return;
  std::vector<at::Tensor> ts;
  for (auto& p : model->parameters()) ts.push_back(p.detach());
  for (auto& b : model->buffers()) ts.push_back(b);
  if (opt)
    for (auto& [name, t] : opt->state()) ts.push_back(t);
  dist::broadcast_all(*g_, ts, 0);
  nlohmann::json knobs = nlohmann::json::array();
  for (auto* l : model->moe_layers()) knobs.push_back(l->gate->knobs().to_json());
  std::string s = knobs.dump();
  dist::broadcast_string(*g_, s, 0);
  if (!root()) {
    const auto j = nlohmann::json::parse(s);
    auto layers = model->moe_layers();
    for (size_t i = 0; i < layers.size(); ++i)
      layers[i]->gate->set_knobs(RouterKnobs::from_json(j.at(i), "rank 0's router knobs"));
  }
}

void DataParallel::average_gradients(Transformer& model) const {
  if (!g_) return;
  std::vector<at::Tensor> grads;
  for (auto& p : model->parameters()) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  dist::all_reduce_mean(*g_, grads);
}

void DataParallel::sum_router_counts(Transformer& model) const {
  if (!g_) return;
  for (auto* l : model->moe_layers()) {
    at::Tensor c = l->pending_counts().to(torch::kCPU).contiguous().clone();
    g_->all_reduce_sum(c);
    l->set_pending_counts(c.to(l->pending_counts().device()));
  }
}

bool DataParallel::any(bool flag) const {
  if (!g_) return flag;
  at::Tensor t = torch::tensor({flag ? 1L : 0L}, torch::kLong);
  g_->all_reduce_max(t);
  return t.item<int64_t>() != 0;
}

double DataParallel::mean(double v) const {
  if (!g_) return v;
  at::Tensor t = torch::tensor({v}, torch::kDouble);
  g_->all_reduce_sum(t);
  return t.item<double>() / static_cast<double>(world());
}

void DataParallel::barrier() const {
  if (g_) g_->barrier();
}

}  // namespace moescope
