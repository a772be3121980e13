// generate.h: autoregressive sampling with or without the KV cache.
// Per step, on the last position's logits: repetition penalty (CTRL: a logit l of a token
// already in the context becomes l/p if l > 0 else l*p), temperature (0 = greedy), top-k,
// then nucleus top-p; sampled with a seeded std::mt19937_64 (deterministic per seed).
// The context is the last model.max_seq_len tokens; with the cache, a full cache is rebuilt
// from the last max_seq_len/2 tokens.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "model/transformer.h"

namespace moescope {

struct SampleOptions {
  int64_t max_new_tokens = 200;
  double temperature = 0.8;
  int64_t top_k = 0;               // 0 = off
  double top_p = 1.0;              // 1 = off
  double repetition_penalty = 1.0; // 1 = off
  uint64_t seed = 0;
  bool use_cache = true;
};

struct SampleResult {
  std::vector<int32_t> tokens;  // new tokens only
  double seconds = 0;
  double tokens_per_s = 0;
};

// The KV cache is held in the model's compute dtype.
SampleResult generate(Transformer& model, const std::vector<int32_t>& prompt, const SampleOptions& opt,
                      const torch::Device& device);

// Picks the next token from a logits row (exposed for tests).
int32_t sample_token(std::vector<float> logits, const std::vector<int32_t>& context, const SampleOptions& opt,
                     uint64_t* rng_state);

}  // namespace moescope
