// generate.h: autoregressive sampling with or without the KV cache.
// Per step, on the last position's logits: repetition penalty (CTRL: a logit l of a token
// already in the context becomes l/p if l > 0 else l*p), temperature (0 = greedy), top-k,
// then nucleus top-p; sampled with a seeded std::mt19937_64 (deterministic per seed).
// The context is the last model.max_seq_len tokens; with the cache, a full cache is rebuilt
// from the last max_seq_len/2 tokens.
// Decode precision is chosen for decoding, not inherited from training (decode_choice): a step
// is matrix-vector work, where bf16 buys nothing on a CPU and LibTorch's per-op cost dominates.
//   dtype auto: on the CPU fp32 (a model in double stays double; weights held in bf16, mapped in
//               place, keep the model's compute dtype), on CUDA the model's compute dtype;
//               fp32 / bf16: as asked.
//   With the KV cache, on the CPU in fp32, the step runs on model/decode_step.h (plain loops
//   over an fp32 snapshot of the weights, no dispatcher) unless fast_path is off or the model
//   has something it does not cover (its unsupported() reason is then given); else
//   model->forward with a KVCache in the chosen dtype. The prompt goes through the same path
//   (token by token on the fast one).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/config_enums.h"
#include "model/transformer.h"

namespace moescope {

struct SampleOptions {
  int64_t max_new_tokens = 200;
  double temperature = 0.8;
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double repetition_penalty = 1.0;  // 1 = off
  uint64_t seed = 0;
  bool use_cache = true;
  DType dtype = DType::kAuto;  // decode compute dtype (see above)
  bool fast_path = true;       // false: always model->forward (tests and bench compare the two)
};

// How a generate call decodes.
struct DecodeChoice {
  at::ScalarType dtype = at::kFloat;
  bool fast = false;   // model/decode_step.h
  std::string reason;  // one line: "decode fp32 (auto on the CPU): single-token path (model/decode_step.h)"
};
DecodeChoice decode_choice(const SampleOptions& opt, TransformerImpl& model, const torch::Device& device);

struct SampleResult {
  std::vector<int32_t> tokens;  // new tokens only
  double seconds = 0;
  double tokens_per_s = 0;
  DecodeChoice how;
};

// The model's compute dtype is set to the decode dtype for the call and restored after it.
SampleResult generate(Transformer& model, const std::vector<int32_t>& prompt, const SampleOptions& opt,
                      const torch::Device& device);

// Picks the next token from a logits row (exposed for tests).
int32_t sample_token(std::vector<float> logits, const std::vector<int32_t>& context, const SampleOptions& opt,
                     uint64_t* rng_state);

}  // namespace moescope
