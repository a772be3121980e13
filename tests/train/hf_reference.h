// hf_reference.h: an independent naive forward pass of the six Hugging Face MoE
// architectures (deepseek_v3, deepseek_v2, qwen2_moe, qwen3_moe, mixtral, olmoe), in double
// precision with plain loops, written from a reading of transformers' modeling_*.py. Test code
// only: it does not call src/model, and it reads the Hugging Face config.json keys itself.
// Weights are given under their checkpoint names, already decoded to doubles (after bf16/f16
// rounding or FP8 dequantisation, as the file holds them).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moescope::hfref {

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> v;
};
using Weights = std::map<std::string, Tensor>;

struct Result {
  std::vector<std::vector<double>> logits;  // [T][V]
  double min_margin = 1e300;                // smallest gap at a top-k / group / argmax decision
};

// Logits of every position of `ids`.
Result forward(const nlohmann::json& config, const Weights& w, const std::vector<int64_t>& ids);

// Greedy decoding by full recomputation; `min_margin` (optional) gets the smallest decision gap.
std::vector<int64_t> greedy(const nlohmann::json& config, const Weights& w, std::vector<int64_t> ids, int n_new,
                            double* min_margin = nullptr);

}  // namespace moescope::hfref
