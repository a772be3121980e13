// adamw.h: AdamW with per-parameter weight-decay and learning-rate groups, and a state that
// round-trips exactly through named tensors (for checkpoints).
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  mhat = m/(1-b1^t);  vhat = v/(1-b2^t)
//   p -= lr*mult * (mhat / (sqrt(vhat) + eps) + wd * p)     (decoupled decay, wd = 0 if exempt)
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

namespace moescope {

struct AdamWParam {
  std::string name;
  at::Tensor param;
  bool decay = true;
  double lr_mult = 1.0;
};

class AdamW {
 public:
  AdamW(std::vector<AdamWParam> params, double beta1, double beta2, double eps, double weight_decay);
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return t_; }
  const std::vector<AdamWParam>& params() const { return params_; }
  // State as named tensors: "exp_avg/<name>", "exp_avg_sq/<name>"; and the step count.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& named, int64_t steps);
  // Resets the moments of parameters whose name starts with `prefix` (expert re-initialisation).
  void reset_state(const std::string& prefix);
  // The learning-rate multiplier of the parameter called `name` (throws if there is none), and
  // setting it (remediation cools a router this way; not part of state(): a resumed run gets
  // it back by replaying the run log).
  double lr_mult(const std::string& name) const;
  void set_lr_mult(const std::string& name, double mult);

 private:
  std::vector<AdamWParam> params_;
  std::vector<at::Tensor> m_, v_;
  double b1_, b2_, eps_, wd_;
  int64_t t_ = 0;
};

// Builds the parameter list for a model: no decay on norms (1-d weights), biases, and, unless
// decay_embeddings, on embeddings; router (".mlp.gate.weight") weights get router_lr_mult.
// Buffers (e.g. the expert bias) are never included.
std::vector<AdamWParam> adamw_params(torch::nn::Module& model, bool decay_embeddings, double router_lr_mult);

}  // namespace moescope
