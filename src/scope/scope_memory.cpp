// scope_memory.cpp: see scope_memory.h.
#include "scope/scope_memory.h"

#include <stdexcept>

#include "core/host_memory.h"

namespace moescope {
namespace {
std::string b(uint64_t v) { return format_bytes(static_cast<double>(v)); }
}  // namespace

ScopeMemoryPlan plan_scope_memory(const ScopeMemoryInput& in) {
  ScopeMemoryPlan p;
  p.whole = in.weights_total + in.working_set + 2 * in.chunk_hidden;
  p.minimum = in.weights_pinned + in.largest_part + in.working_set + 2 * in.chunk_hidden + in.routing_total;
  const std::string terms = "weights that stay resident (not file-backed) " + b(in.weights_pinned) +
                            " + the largest mapped layer " + b(in.largest_part) + " + one chunk's working set " +
                            b(in.working_set) + " + one chunk's hidden states in and out " + b(2 * in.chunk_hidden) +
                            " + the kept routing " + b(in.routing_total);
  if (in.budget >= p.whole) {
    p.summary = "the whole model fits --max-memory " + b(in.budget) + " (weights " + b(in.weights_total) +
                " + one chunk " + b(in.working_set + 2 * in.chunk_hidden) + "): one chunk through all layers at a time";
    return p;
  }
  if (in.budget < p.minimum)
    throw std::invalid_argument("--max-memory " + b(in.budget) +
                                " is too small for this model and chunk size: the weights (" + b(in.weights_total) +
                                ") do not fit, and streaming them layer by layer needs " + b(p.minimum) + " = " +
                                terms + " (lower --batch/--seq-len or raise --max-memory)");
  p.streamed = true;
  p.spill = p.minimum + in.hidden_total > in.budget;
  p.summary = "the weights (" + b(in.weights_total) + ") exceed --max-memory " + b(in.budget) +
              ": streaming layer by layer, resident about " + b(p.minimum + (p.spill ? 0 : in.hidden_total)) + " = " +
              terms +
              (p.spill ? "; the hidden states (" + b(in.hidden_total) + ") spilled to disk"
                       : " + every chunk's hidden states " + b(in.hidden_total));
  return p;
}

}  // namespace moescope
