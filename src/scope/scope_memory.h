// scope_memory.h: how `scope --model --max-memory SIZE` fits a model into a memory budget
// (torch-free arithmetic over byte counts measured on the loaded model, scope/corpus_scope.cpp).
//   whole:    every weight resident + one chunk's working set <= budget -> the unstreamed pass
//             (one chunk through all layers at a time);
//   streamed: else all chunks go through layer l before layer l + 1 (scope/streamed_pass.h):
//             resident = the weights that cannot be released (copies, i.e. not file-backed)
//             + the largest file-backed layer (or embedding and head) + the working set
//             + the kept routing (tokens x MoE layers x K x 4 bytes) + one chunk's hidden states in
//             and out; the hidden states of all chunks stay in memory when that sum plus them
//             fits, else they are spilled to a file in the run directory.
// A budget below the streamed minimum is refused, naming each term.
#pragma once
#include <cstdint>
#include <string>

namespace moescope {

struct ScopeMemoryInput {
  uint64_t budget = 0;          // --max-memory
  uint64_t weights_total = 0;   // every parameter and buffer as held (mapped file bytes or copies)
  uint64_t weights_pinned = 0;  // of those, the ones streaming cannot release (not file-backed)
  uint64_t largest_part = 0;    // the largest file-backed layer (or embedding + head) alone
  uint64_t working_set = 0;     // one chunk's activations in one layer (or the head), dtype casts included
  uint64_t chunk_hidden = 0;    // one chunk's hidden states (tokens x d_model x dtype)
  uint64_t hidden_total = 0;    // every chunk's hidden states
  uint64_t routing_total = 0;   // the routing observations kept until the records are written
};

struct ScopeMemoryPlan {
  bool streamed = false;
  bool spill = false;    // hidden states in a file (streamed only)
  uint64_t whole = 0;    // what the unstreamed pass needs
  uint64_t minimum = 0;  // what the streamed pass needs with the hidden states spilled
  std::string summary;   // one line: the terms and the choice
};

// Throws std::invalid_argument naming the budget and every term when even the streamed pass
// with its hidden states on disk does not fit.
ScopeMemoryPlan plan_scope_memory(const ScopeMemoryInput& in);

}  // namespace moescope
