// evaluate.cpp: see evaluate.h.
#include "train/evaluate.h"

#include <cmath>

namespace moescope {

at::Tensor lm_loss(const at::Tensor& logits_BSV, const at::Tensor& targets_BS) {
  const auto V = logits_BSV.size(-1);
  return torch::nn::functional::cross_entropy(logits_BSV.reshape({-1, V}).to(at::kFloat), targets_BS.reshape({-1}));
}

EvalResult evaluate(Transformer& model, const Dataset& data, int64_t B, int64_t S, int64_t max_batches,
                    const torch::Device& device, const std::function<void()>& after_forward,
                    const std::function<bool()>& stop) {
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard ng;
  const int64_t windows = data.n_val_windows(S);
  TORCH_CHECK(windows > 0, "validation split has fewer than ", S + 1,
              " tokens: lower train.seq_len or use a larger corpus");
  double sum = 0;
  int64_t tokens = 0, batches = 0;
  std::vector<int64_t> in, tg;
  bool interrupted = false;
  for (int64_t w = 0; w < windows; w += B) {
    if (max_batches > 0 && batches >= max_batches) break;
    if (stop && stop()) {
      interrupted = true;
      break;
    }
    const int64_t n = data.val_batch(w, B, S, &in, &tg);
    auto inp = torch::from_blob(in.data(), {n, S}, torch::kLong).to(device);
    auto tgt = torch::from_blob(tg.data(), {n, S}, torch::kLong).to(device);
    auto out = model->forward(inp);
    if (after_forward) after_forward();
    sum += lm_loss(out.logits_BSV, tgt).item<double>() * static_cast<double>(n * S);
    tokens += n * S;
    ++batches;
  }
  if (was_training) model->train();
  EvalResult r;
  r.tokens = tokens;
  r.interrupted = interrupted;
  r.loss = tokens > 0 ? sum / static_cast<double>(tokens) : std::nan("");
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace moescope
