// test_hooks.cpp: see test_hooks.h.
#include "train/test_hooks.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "model/tensor_io.h"
#include "train/expert_shards.h"

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

void crash_point(const char* name) {
  static std::atomic<int64_t> passed{0};
  const int64_t n = ++passed;
  if (const char* trace = std::getenv("MOESCOPE_TEST_CRASH_TRACE")) {
    const int fd = ::open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const std::string line = std::string(name) + "\n";
      (void)!::write(fd, line.data(), line.size());
      ::close(fd);
    }
  }
  const char* at = std::getenv("MOESCOPE_TEST_KILL_AT");
  const char* only = std::getenv("MOESCOPE_TEST_KILL_RANK");
  const char* rank = std::getenv("RANK");
  if (only && std::string(only) != (rank ? rank : "0")) return;
  if (at && std::strtoll(at, nullptr, 10) == n) ::kill(::getpid(), SIGKILL);
}

void maybe_dump_rank_state(int64_t rank, Transformer& model, ExpertShards* shards) {
  const char* d = std::getenv("MOESCOPE_TEST_RANK_STATE");
  if (!d || !*d) return;
  // What this rank holds between steps (EP: its experts only), then its whole model.
  const std::string base = std::string(d) + "/rank" + std::to_string(rank);
  nlohmann::json held{{"parameters", model->num_params()}};
  if (shards) {
    const auto b = shards->expert_bytes();
    held["expert_weight_bytes"] = b.weights;
    held["expert_grad_bytes"] = b.grads;
    held["expert_moment_bytes"] = b.moments;
  }
  write_file_atomic(base + ".json", held.dump());
  FullExperts full(shards, ExpertShards::kWeights);
  save_model_weights(*model, base + ".safetensors", {});
}

}  // namespace moescope::test_hooks
