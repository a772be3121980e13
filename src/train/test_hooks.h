// test_hooks.h: the fault injections that tests drive through environment variables, read in
// this one place (never elsewhere in production code). Each is read when asked, so a test may
// set or clear its variable between runs in one process.
//   MOESCOPE_TEST_NAN_STEPS="3,4,5"            the training loss is poisoned (NaN) at these steps
//   MOESCOPE_TEST_CRASH_IN_SAVE=after_weights  the process _exits(86) between the two files of a
//                                              checkpoint write (a kill mid-save)
//   MOESCOPE_TEST_KILL_AT=N                    the process sends itself SIGKILL at the N-th crash
//                                              point it passes (1-based): a kill -9 at a chosen
//                                              moment (each micro-batch, validation batch, log
//                                              record, and every stage of a checkpoint write)
//   MOESCOPE_TEST_KILL_RANK=R                  with MOESCOPE_TEST_KILL_AT: only the rank whose RANK is R
//                                              kills itself (a rank of a multi-process job dying)
//   MOESCOPE_TEST_RANK_STATE=DIR               at the end of run() every rank writes its weights and
//                                              buffers to DIR/rank<R>.safetensors and what it held
//                                              between steps to DIR/rank<R>.json (ranks compared)
//   MOESCOPE_TEST_CRASH_TRACE=PATH             every crash point appends its name and a newline
//                                              to PATH (how a test counts and picks the points)
#pragma once
#include <cstdint>
#include <set>
#include <string>

#include "model/transformer.h"

namespace moescope {
class ExpertShards;
}

namespace moescope::test_hooks {

std::set<int64_t> nan_loss_steps();
// Ends the process (exit status 86) when MOESCOPE_TEST_CRASH_IN_SAVE=after_weights.
void maybe_crash_after_checkpoint_weights();
// A moment where a kill must lose at most the steps since the last checkpoint (see above).
void crash_point(const char* name);
// With MOESCOPE_TEST_RANK_STATE=DIR: DIR/rank<R>.json, what this rank holds between steps
// (parameters; with expert shards, its expert weight, gradient and moment bytes), then
// DIR/rank<R>.safetensors, its whole model (every expert gathered). Nothing when unset.
void maybe_dump_rank_state(int64_t rank, Transformer& model, ExpertShards* shards);

}  // namespace moescope::test_hooks
