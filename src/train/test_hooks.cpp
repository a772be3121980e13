// test_hooks.cpp: see test_hooks.h.
#include "train/test_hooks.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace moescope::test_hooks {

std::set<int64_t> nan_loss_steps() {
  std::set<int64_t> s;
  if (const char* e = std::getenv("MOESCOPE_TEST_NAN_STEPS")) {
    std::stringstream ss(e);
    std::string tok;
    while (std::getline(ss, tok, ','))
      if (!tok.empty()) s.insert(std::stoll(tok));
  }
  return s;
}

void maybe_crash_after_checkpoint_weights() {
  const char* crash = std::getenv("MOESCOPE_TEST_CRASH_IN_SAVE");
  if (crash && std::string(crash) == "after_weights") _exit(86);
}

}  // namespace moescope::test_hooks
