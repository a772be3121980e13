// evaluate.h: validation loss over the held-out split (deterministic: eval mode, fixed windows).
#pragma once
#include <functional>

#include <torch/torch.h>

#include "model/transformer.h"
#include "data/dataset.h"

namespace moescope {

struct EvalResult {
  double loss = 0;           // mean cross-entropy per predicted token, nats
  double perplexity = 0;     // exp(loss)
  int64_t tokens = 0;        // predicted tokens evaluated
  bool interrupted = false;  // `stop` said so before the last batch: loss and tokens are partial
};

// Sequential non-overlapping windows of the validation split, B at a time, at most
// max_batches batches (0 = all). `after_forward` (optional) runs after every batch's forward,
// e.g. for routing statistics. `stop` (optional) is asked before every batch; when it returns
// true the evaluation ends there, interrupted (a SIGTERM waits for one batch, not the split).
EvalResult evaluate(Transformer& model, const Dataset& data, int64_t B, int64_t S, int64_t max_batches,
                    const torch::Device& device, const std::function<void()>& after_forward = {},
                    const std::function<bool()>& stop = {});

// Mean next-token cross-entropy of logits_BSV against targets_BS, computed in fp32.
at::Tensor lm_loss(const at::Tensor& logits_BSV, const at::Tensor& targets_BS);

}  // namespace moescope
