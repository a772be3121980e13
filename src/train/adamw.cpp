// adamw.cpp: see adamw.h.
#include "train/adamw.h"

#include "model/param_names.h"
#include "core/str_edit.h"

#include <cmath>
#include <map>
#include <stdexcept>

namespace moescope {

AdamW::AdamW(std::vector<AdamWParam> params, double beta1, double beta2, double eps, double weight_decay)
    : params_(std::move(params)), b1_(beta1), b2_(beta2), eps_(eps), wd_(weight_decay) {
  for (auto& p : params_) {
    m_.push_back(torch::zeros_like(p.param, torch::MemoryFormat::Contiguous));
    v_.push_back(torch::zeros_like(p.param, torch::MemoryFormat::Contiguous));
  }
}

void AdamW::zero_grad() {
  // Gradients are released, not zeroed: the next backward writes them afresh (no memset, and
  // no read-add in the first accumulation), and a skipped step drops them the same way.
  for (auto& p : params_)
    if (p.param.grad().defined()) p.param.mutable_grad().reset();
}

namespace {

// One fused pass for an fp32 CPU parameter: the same formula as the tensor-op path below,
// element by element, so the parameter, m and v are each read and written once.
void fused_step(float* p, float* m, float* v, const float* g, int64_t n, float decay_mul, float b1, float b2,
                float inv_bc2, float eps, float step) {
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = g[i];
      const float mi = m[i] * b1 + (1.0f - b1) * gi;
      const float vi = v[i] * b2 + (1.0f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay_mul + step * (mi / (std::sqrt(vi * inv_bc2) + eps));
    }
  });
}

bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  for (const auto* t : {&p, &g, &m, &v})
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous()) return false;
  return true;
}

}  // namespace

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++t_;
  const double bc1 = 1.0 - std::pow(b1_, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(b2_, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].param;
    if (!p.grad().defined()) continue;
    const double plr = lr * params_[i].lr_mult;
    const double decay_mul = params_[i].decay && wd_ > 0 ? 1.0 - plr * wd_ : 1.0;
    auto g = p.grad();
    if (fusable(p, g, m_[i], v_[i])) {
      fused_step(p.data_ptr<float>(), m_[i].data_ptr<float>(), v_[i].data_ptr<float>(), g.data_ptr<float>(), p.numel(),
                 static_cast<float>(decay_mul), static_cast<float>(b1_), static_cast<float>(b2_),
                 static_cast<float>(1.0 / bc2), static_cast<float>(eps_), static_cast<float>(-plr / bc1));
      continue;
    }
    if (decay_mul != 1.0) p.mul_(decay_mul);
    m_[i].mul_(b1_).add_(g, 1.0 - b1_);
    v_[i].mul_(b2_).addcmul_(g, g, 1.0 - b2_);
    auto denom = (v_[i] / bc2).sqrt_().add_(eps_);
    p.addcdiv_(m_[i], denom, -plr / bc1);
  }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg/" + params_[i].name, m_[i]);
    out.emplace_back("exp_avg_sq/" + params_[i].name, v_[i]);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& named, int64_t steps) {
  std::map<std::string, at::Tensor> by_name(named.begin(), named.end());
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [prefix, dst] : {std::pair{"exp_avg/", &m_[i]}, std::pair{"exp_avg_sq/", &v_[i]}}) {
      auto it = by_name.find(prefix + params_[i].name);
      if (it == by_name.end())
        throw std::runtime_error("optimizer state: missing " + std::string(prefix) + params_[i].name);
      if (it->second.sizes() != dst->sizes())
        throw std::runtime_error("optimizer state: shape mismatch for " + std::string(prefix) + params_[i].name);
      if (it->second.scalar_type() != dst->scalar_type())
        throw std::runtime_error("optimizer state: " + std::string(prefix) + params_[i].name + " is " +
                                 c10::toString(it->second.scalar_type()) + ", expected " +
                                 c10::toString(dst->scalar_type()));
      if (!torch::isfinite(it->second).all().item<bool>())
        throw std::runtime_error("optimizer state: " + std::string(prefix) + params_[i].name +
                                 " holds NaN or Inf values");
      dst->copy_(it->second);
    }
  }
  if (by_name.size() != 2 * params_.size())
    throw std::runtime_error("optimizer state: holds " + std::to_string(by_name.size()) + " tensors, expected " +
                             std::to_string(2 * params_.size()));
  t_ = steps;
}

void AdamW::reset_state(const std::string& prefix) {
  torch::NoGradGuard ng;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name.rfind(prefix, 0) == 0) {
      m_[i].zero_();
      v_[i].zero_();
    }
}

double AdamW::lr_mult(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return p.lr_mult;
  throw std::runtime_error("optimizer: no parameter named '" + name + "'");
}

void AdamW::set_lr_mult(const std::string& name, double mult) {
  if (!(mult > 0) || !std::isfinite(mult))
    throw std::invalid_argument("optimizer: lr multiplier for '" + name + "' must be positive and finite, got " +
                                std::to_string(mult));
  for (auto& p : params_)
    if (p.name == name) {
      p.lr_mult = mult;
      return;
    }
  throw std::runtime_error("optimizer: no parameter named '" + name + "'");
}

std::vector<AdamWParam> adamw_params(torch::nn::Module& model, bool decay_embeddings, double router_lr_mult) {
  std::vector<AdamWParam> out;
  for (auto& p : model.named_parameters()) {
    const auto& n = p.key();
    AdamWParam a{n, p.value(), true, 1.0};
    if (p.value().dim() < 2 || ends_with(n, ".bias")) a.decay = false;  // norms and biases
    if (n.find("embed_tokens") != std::string::npos && !decay_embeddings) a.decay = false;
    if (is_router_weight(n)) a.lr_mult = router_lr_mult;
    out.push_back(a);
  }
  return out;
}

}  // namespace moescope
