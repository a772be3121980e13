// generate.cpp: see generate.h.
#include "train/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

#include "model/decode_step.h"
#include "model/kv_cache.h"

namespace moescope {

int32_t sample_token(std::vector<float> logits, const std::vector<int32_t>& context, const SampleOptions& opt,
                     uint64_t* rng_state) {
  const int64_t V = static_cast<int64_t>(logits.size());
  if (opt.repetition_penalty != 1.0) {
    std::unordered_set<int32_t> seen(context.begin(), context.end());
    for (int32_t t : seen)
      if (t >= 0 && t < V)
        logits[t] = logits[t] > 0 ? logits[t] / opt.repetition_penalty : logits[t] * opt.repetition_penalty;
  }
  if (opt.temperature <= 0)
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  int64_t keep = V;
  if (opt.top_k > 0) keep = std::min(keep, opt.top_k);
  std::vector<double> p(keep);
  const double mx = logits[idx[0]];
  double z = 0;
  for (int64_t i = 0; i < keep; ++i) z += p[i] = std::exp((logits[idx[i]] - mx) / opt.temperature);
  for (auto& x : p) x /= z;
  if (opt.top_p < 1.0) {
    double cum = 0;
    int64_t n = 0;
    while (n < keep && cum < opt.top_p) cum += p[n++];
    keep = std::max<int64_t>(n, 1);
    p.resize(keep);
  }
  std::mt19937_64 rng(*rng_state);
  *rng_state = rng();
  std::discrete_distribution<int64_t> dist(p.begin(), p.end());
  return idx[dist(rng)];
}

DecodeChoice decode_choice(const SampleOptions& opt, TransformerImpl& model, const torch::Device& device) {
  DecodeChoice c;
  const std::string where = device.is_cuda() ? "CUDA" : "the CPU";
  std::string why;
  switch (opt.dtype) {
    case DType::kAuto: {
      // Weights held in another dtype (a model directory's bf16 pages mapped in place) would be
      // cast to fp32 on every step: those models keep their compute dtype.
      const auto params = model.parameters();
      const bool fp32_weights = params.empty() || params.front().scalar_type() == at::kFloat;
      c.dtype =
          device.is_cuda() || model.compute_dtype == at::kDouble || !fp32_weights ? model.compute_dtype : at::kFloat;
      why = device.is_cuda() ? "auto on CUDA: the model's compute dtype"
            : !fp32_weights  ? "auto with weights held in " + std::string(c10::toString(params.front().scalar_type())) +
                                  ": the model's compute dtype"
                            : "auto on the CPU";
      break;
    }
    case DType::kFp32:
      c.dtype = at::kFloat;
      why = "as set";
      break;
    case DType::kBf16:
      c.dtype = at::kBFloat16;
      why = "as set";
      break;
  }
  const std::string dt = c.dtype == at::kFloat ? "fp32" : c.dtype == at::kBFloat16 ? "bf16" : c10::toString(c.dtype);
  c.reason = "decode " + dt + " (" + why + "): ";
  if (!device.is_cpu() || c.dtype != at::kFloat || !opt.use_cache || !opt.fast_path) {
    c.reason += std::string("model->forward") + (opt.use_cache ? " with the KV cache" : " without a cache");
    return c;
  }
  const std::string no = DecodeStep::unsupported(model);
  c.fast = no.empty();
  c.reason += c.fast ? "single-token path (model/decode_step.h)"
                     : "model->forward with the KV cache (the single-token path does not cover " + no + ")";
  return c;
}

namespace {
// Sets the model's compute dtype for one call.
struct ComputeDtypeScope {
  TransformerImpl& m;
  at::ScalarType saved;
  ComputeDtypeScope(TransformerImpl& model, at::ScalarType dt) : m(model), saved(model.compute_dtype) {
    m.compute_dtype = dt;
  }
  ~ComputeDtypeScope() { m.compute_dtype = saved; }
};
}  // namespace

SampleResult generate(Transformer& model, const std::vector<int32_t>& prompt, const SampleOptions& opt,
                      const torch::Device& device) {
  TORCH_CHECK(!prompt.empty(), "generate: the prompt encodes to no tokens");
  const int64_t L = model->cfg().max_seq_len;
  model->eval();
  SampleResult res;
  res.how = decode_choice(opt, *model, device);
  ComputeDtypeScope dtype_scope(*model, res.how.dtype);
  c10::InferenceMode inference;  // no autograd records, no version counters: less work per op
  std::vector<int32_t> ctx(prompt);
  uint64_t rng = opt.seed * 0x9E3779B97F4A7C15ull + 1;
  auto to_tensor = [&](size_t from, size_t n) {
    std::vector<int64_t> v(ctx.begin() + static_cast<long>(from), ctx.begin() + static_cast<long>(from + n));
    return torch::tensor(v, torch::kLong).view({1, static_cast<int64_t>(n)}).to(device);
  };
  auto last_row = [](const at::Tensor& logits_BSV) {
    auto row = logits_BSV.select(1, logits_BSV.size(1) - 1).squeeze(0).to(torch::kFloat).to(torch::kCPU).contiguous();
    return std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
  };
  const auto t0 = std::chrono::steady_clock::now();
  if (res.how.fast) {
    DecodeStep step(*model);
    // Feeds ctx's last n tokens from position 0; returns the last one's logits.
    auto fill = [&](size_t n) {
      step.reset();
      const std::vector<float>* out = nullptr;
      for (size_t i = ctx.size() - n; i < ctx.size(); ++i) out = &step.step(ctx[i]);
      return *out;
    };
    std::vector<float> logits = fill(std::min<size_t>(ctx.size(), static_cast<size_t>(L)));
    for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
      const int32_t next = sample_token(logits, ctx, opt, &rng);
      ctx.push_back(next);
      res.tokens.push_back(next);
      if (i + 1 == opt.max_new_tokens) break;
      if (step.length() >= L) logits = fill(static_cast<size_t>(L / 2));  // full: rebuild from the most recent half
      else logits = step.step(next);
    }
  } else {
    std::unique_ptr<KVCache> cache;
    at::Tensor logits;
    if (opt.use_cache) {
      cache = std::make_unique<KVCache>(model->cfg(), 1, L, model->compute_dtype, device);
      const size_t n = std::min<size_t>(ctx.size(), static_cast<size_t>(L));
      logits = model->forward(to_tensor(ctx.size() - n, n), 0, cache.get()).logits_BSV;
    }
    for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
      if (!opt.use_cache) {
        const size_t n = std::min<size_t>(ctx.size(), static_cast<size_t>(L));
        logits = model->forward(to_tensor(ctx.size() - n, n)).logits_BSV;
      }
      const int32_t next = sample_token(last_row(logits), ctx, opt, &rng);
      ctx.push_back(next);
      res.tokens.push_back(next);
      if (opt.use_cache && i + 1 < opt.max_new_tokens) {
        if (cache->length() >= L) {  // full: rebuild from the most recent half
          cache->reset();
          const size_t n = static_cast<size_t>(L / 2);
          logits = model->forward(to_tensor(ctx.size() - n, n), 0, cache.get()).logits_BSV;
        } else {
          logits = model->forward(to_tensor(ctx.size() - 1, 1), cache->length(), cache.get()).logits_BSV;
        }
      }
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.tokens_per_s = static_cast<double>(res.tokens.size()) / std::max(res.seconds, 1e-9);
  return res;
}

}  // namespace moescope
