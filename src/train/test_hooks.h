// test_hooks.h: the fault injections that tests drive through environment variables, read in
// this one place (never elsewhere in production code). Each is read when asked, so a test may
// set or clear its variable between runs in one process.
//   MOESCOPE_TEST_NAN_STEPS="3,4,5"            the training loss is poisoned (NaN) at these steps
//   MOESCOPE_TEST_CRASH_IN_SAVE=after_weights  the process _exits(86) between the two files of a
//                                              checkpoint write (a kill mid-save)
#pragma once
#include <cstdint>
#include <set>

namespace moescope::test_hooks {

std::set<int64_t> nan_loss_steps();
// Ends the process (exit status 86) when MOESCOPE_TEST_CRASH_IN_SAVE=after_weights.
void maybe_crash_after_checkpoint_weights();

}  // namespace moescope::test_hooks
