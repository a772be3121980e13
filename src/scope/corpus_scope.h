// corpus_scope.h: the microscope at inference (`moescope scope --model DIR --data FILE --out
// RUN`). Forward-only passes (eval mode, NoGradGuard, no optimizer) of a loaded model over
// one or more tokenised corpora in chunks of batch x seq_len tokens: consecutive windows of
// seq_len tokens, B per chunk, the corpus's last partial window as a chunk of its own, so every
// token is routed exactly once. A "step" is one chunk. The training microscope
// (scope/microscope.h, forward_only) turns each interval of log_every chunks into a `train`
// record of RUN_DIR/metrics.jsonl (per-layer load, entropy, N_eff, MaxVio, dead and starved
// experts, router confidence, co-activation, bias intervention, detector status) and each
// corpus into an `eval` record over the whole corpus (maxvio_global ...; val_loss = the
// corpus's next-token cross-entropy); the same decisions feed the RoutingProfile
// (RUN_DIR/routing_profile.json). Readers: `moescope scope --run`, dashboard, report.
// With a memory budget (max_memory) a model that does not fit is streamed layer by layer
// (scope/scope_memory.h, scope/streamed_pass.h); the records are then written after the last
// layer, from the same decisions, and equal those of the unstreamed pass.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/progress.h"
#include "model/transformer.h"

namespace moescope {

struct CorpusScopeOptions {
  int64_t batch = 8;          // windows per chunk
  int64_t seq_len = 256;      // tokens per window (at most the model's max_seq_len)
  int64_t log_every = 10;     // chunks per interval record (a corpus's last interval may be shorter)
  int64_t top_tokens = 10;    // tokens kept per expert in the profile
  int64_t coact_every = 10;   // co-activation (E x E per layer) in every N-th interval record, the first included
  uint64_t max_memory = 0;    // bytes; 0: no budget (one chunk through all layers at a time)
  bool force_stream = false;  // stream layer by layer even when the model fits (tests)
  bool force_spill = false;   // streamed: hidden states in a file even when they fit (tests)
};

// One tokenised corpus: `size` tokens, token(i) for 0 <= i < size.
struct CorpusTokens {
  std::string name;
  int64_t size = 0;
  std::function<int64_t(int64_t)> token;
};

struct CorpusScopeResult {
  int64_t tokens = 0, chunks = 0;
  double seconds = 0;
  std::vector<double> loss;  // per corpus, mean next-token cross-entropy (nats)
  bool streamed = false;
  uint64_t spilled_bytes = 0, released_bytes = 0;  // streamed: hidden-state file, mapped pages given back
  std::string memory_plan;                         // scope_memory.h's summary line ("" without a budget)
};

// Checks the options against the model (seq_len <= max_seq_len, every size >= 1) and the
// corpora (each non-empty), then runs. Writes run_dir/metrics.jsonl, alerts.jsonl and
// routing_profile.json (run_dir created; an existing metrics.jsonl is an error: a run is
// never appended to). `decode` gives a token's text for the profile. The microscope's settings
// are `scope` (remediation and TensorBoard are forced off; co-activation every opt.coact_every
// intervals).
// Throws std::invalid_argument for bad options or input naming it, std::runtime_error for I/O.
CorpusScopeResult run_corpus_scope(Transformer model, const std::vector<CorpusTokens>& corpora,
                                   const CorpusScopeOptions& opt, ScopeConfig scope, const std::string& run_dir,
                                   const std::string& model_name, const std::function<std::string(int64_t)>& decode,
                                   Progress& progress);

}  // namespace moescope
