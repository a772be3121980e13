// streamed_pass.h: the forward passes of `scope --model` (scope/corpus_scope.h), one chunk
// through the whole model (forward_chunk), or every chunk layer by layer (streamed_pass) for a
// model larger than --max-memory (scope/scope_memory.h):
//   h_k = embed(tokens_k) for every chunk k; then for each layer l: h_k = block_l(h_k) for every
//   chunk k (the layer's routing kept as RoutingObservations), after which the layer's mapped
//   weight pages are released (core/mapped_pages.h); then logits_k = head(norm(h_k)) and the loss.
// Each chunk sees exactly the operations of Transformer::forward, in the same order and shapes,
// so the outcomes (losses, routing) are those of forward_chunk. The hidden states of all chunks
// stay in memory or, with `spill_path`, in a file (written in place, chunk by chunk).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/transformer.h"
#include "scope/microscope.h"

namespace moescope {

// One chunk's input: tokens_BS [rows, len] int64 and target_T [rows * len] int64 (-100: none).
struct ChunkInput {
  at::Tensor tokens_BS, target_T;
};

// One chunk's outcome: summed next-token cross-entropy (nats), the number of targets, and
// every MoE layer's routing (in model order; expert_TK kept as int32 on the CPU).
struct ChunkOutcome {
  double loss_sum = 0;
  int64_t targets = 0;
  std::vector<RoutingObservation> routing;
};

// The unstreamed pass of one chunk (model->forward).
ChunkOutcome forward_chunk(Transformer& model, const ChunkInput& in);

struct StreamedPassStats {
  uint64_t released_bytes = 0;  // mapped weight pages given back after their layer
  uint64_t spilled_bytes = 0;   // size of the hidden-state file (0: in memory)
};
// `progress(units)` after each chunk of each stage (embedding, each layer, head): units run
// from 1 to chunks.size() * (n_layers + 2).
std::vector<ChunkOutcome> streamed_pass(Transformer& model, const std::vector<ChunkInput>& chunks,
                                        const std::string& spill_path, const std::function<void(int64_t)>& progress,
                                        StreamedPassStats* stats = nullptr);

// What scope_memory.h plans with, measured on a loaded model: bytes of every parameter and
// buffer as held; of those not file-backed; the largest file-backed part (one block, or the
// embedding and head together); the dtype casts a forward makes of the largest block's and the
// head's weights (each weight not in the compute dtype, at the compute dtype's size).
struct ModelBytes {
  uint64_t total = 0, pinned = 0, largest_part = 0, layer_casts = 0, head_casts = 0;
};
ModelBytes measure_model_bytes(Transformer& model);

}  // namespace moescope
