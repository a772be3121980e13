// dispatch.h: grouping top-k assignments by expert, with optional capacity dropping.
//
// Legend: T tokens, K top-k slots per token, E experts, A = kept assignments (<= T*K),
//         D model width.
// The plan sorts the T*K (token, slot) assignments by expert so that each expert's tokens
// form one contiguous block [offsets[e], offsets[e+1]) of the A axis; experts then run
// their matmuls once per block. With capacity_factor > 0 each expert keeps at most
//   capacity = ceil(capacity_factor * T * K / E)
// assignments; the rest are dropped (no routed contribution; the residual carries the token).
// Drop policies, which assignments an over-full expert keeps:
//   kScore:    highest gate weight first (lowest weight dropped first);
//   kPosition: first-choice slots before second-choice ones, then earlier tokens first
//              (GShard-style; later tokens dropped first).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/config_enums.h"  // DropPolicy (moe.drop_policy)

namespace moescope {

struct DispatchPlan {
  at::Tensor token_A;             // [A] int64: token index of each kept assignment, grouped by expert
  at::Tensor slot_A;              // [A] int64: flat index t*K + j into the [T, K] routing tensors
  at::Tensor keep_TK;             // [T, K] bool: false where the assignment was dropped
  std::vector<int64_t> offsets;   // E + 1 host offsets into the A axis
  std::vector<int64_t> routed_E;  // assignments routed to each expert before capacity
  int64_t capacity = -1;          // -1 when dropless
  int64_t n_dropped = 0;
};

int64_t expert_capacity(double capacity_factor, int64_t T, int64_t K, int64_t E);

// expert_TK: [T, K] int64 expert ids; weight_TK: [T, K] gate weights (used by kScore).
DispatchPlan plan_dispatch(const at::Tensor& expert_TK, const at::Tensor& weight_TK, int64_t E, double capacity_factor,
                           DropPolicy policy);

}  // namespace moescope
