// expert_parallel_test.cpp: a 2-rank and a 4-rank expert-parallel MoE layer (Gloo on loopback,
// forked ranks) equal the single-process layer on the concatenated batch, forward and backward
// over every parameter and the input, in fp64: dropless; with capacity drops (score and
// position policies); with an expert that no token chooses (an empty expert on a rank); with
// all of the last rank's experts unchosen (a rank that receives no tokens).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include <torch/torch.h>

#include "dist/launcher.h"
#include "dist/process_group.h"
#include "model/expert_parallel.h"
#include "test_util.h"

using namespace moescope;

namespace {

#define RANK_CHECK(cond, what)                                                     \
  do {                                                                             \
    if (!(cond)) throw std::runtime_error(std::string("check failed: ") + (what)); \
  } while (0)

struct Case {
  double capacity;
  std::string policy;
  std::vector<int64_t> unchosen;  // experts whose selection bias is very negative
  int world = 2;
  int64_t n_routed = 4;
};

// Max |a - b| relative to max |b| (1 when b is all zeros).
double rel(const at::Tensor& a, const at::Tensor& b) {
  const double s = std::max(1e-30, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / (b.abs().max().item<double>() > 0 ? s : 1.0);
}

// One rank: build the same layer as every other rank, run the reference on the whole batch and
// the EP layer on this rank's half, compare. Throws on a mismatch.
void rank_body(int rank, int port, const Case& c, int64_t* dropped_out) {
  const int W = c.world;
  dist::DistEnv env;
  env.rank = rank;
  env.world_size = W;
  env.master_port = port;
  env.timeout_s = 20;
  auto g = dist::Group::connect(env);
  const auto cfg =
      moescope::testing::tiny_config({"moe.n_routed=" + std::to_string(c.n_routed), "moe.top_k=2", "moe.n_shared=1",
                                      "moe.expert_hidden=6", "moe.capacity_factor=" + std::to_string(c.capacity),
                                      "moe.drop_policy=" + c.policy, "moe.bias_update_rate=0.01"})
          .model;
  torch::manual_seed(3);
  MoELayer layer(cfg, cfg.n_layers);
  layer->to(torch::kDouble);
  layer->train();
  {
    torch::NoGradGuard ng;
    for (int64_t e : c.unchosen) layer->gate->bias[e] = -100.0;
  }
  const int64_t B = 3, S = 5, D = cfg.d_model;
  at::Tensor x_all = torch::randn({W * B, S, D}, torch::kDouble);
  at::Tensor probe = torch::randn({W * B, S, D}, torch::kDouble);

  // Reference: one process, the whole batch.
  at::Tensor xr = x_all.clone().requires_grad_(true);
  at::Tensor yr = layer->forward(xr);
  (yr * probe).sum().backward();
  *dropped_out = layer->last().n_dropped;
  std::map<std::string, at::Tensor> ref;
  for (auto& p : layer->named_parameters())
    ref[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value());
  for (auto& p : layer->parameters()) p.mutable_grad() = at::Tensor();

  // EP: this rank's rows.
  at::Tensor x = x_all.narrow(0, rank * B, B).clone().requires_grad_(true);
  at::Tensor y = ep_moe_forward(*layer, x, *g);
  RANK_CHECK(rel(y, yr.narrow(0, rank * B, B)) < 1e-10, "forward");
  (y * probe.narrow(0, rank * B, B)).sum().backward();
  RANK_CHECK(rel(x.grad(), xr.grad().narrow(0, rank * B, B)) < 1e-10, "input gradient");
  const ExpertShard shard = expert_shard(c.n_routed, rank, W);
  for (auto& p : layer->named_parameters()) {
    const std::string& name = p.key();
    at::Tensor gr = p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value());
    const bool expert = name.rfind("experts.", 0) == 0;
    if (expert) {
      const int64_t e = std::stoll(name.substr(8));
      const bool mine = e >= shard.first && e < shard.first + shard.count;
      // Own experts: the whole batch's gradient, here; others: nothing here.
      if (mine) RANK_CHECK(rel(gr, ref[name]) < 1e-10, name);
      else RANK_CHECK(gr.abs().max().item<double>() == 0.0, name + " (not this rank's)");
    } else {
      g->all_reduce_sum(gr);  // replicated: each rank holds its tokens' share
      RANK_CHECK(rel(gr, ref[name]) < 1e-10, name);
    }
  }
}

std::vector<int> run_case(const Case& c, int64_t* dropped) {
  const int port = dist::free_port("127.0.0.1");
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::vector<pid_t> pids;
  for (int r = 0; r < c.world; ++r) {
    const pid_t p = fork();
    if (p == 0) {
      int code = 0;
      int64_t d = -1;
      try {
        rank_body(r, port, c, &d);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
        code = 1;
      }
      if (r == 0) (void)!write(fds[1], &d, sizeof d);
      std::fflush(stderr);
      _exit(code);
    }
    pids.push_back(p);
  }
  std::vector<int> codes;
  for (pid_t p : pids) {
    int st = 0;
    waitpid(p, &st, 0);
    codes.push_back(WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
  if (read(fds[0], dropped, sizeof *dropped) != sizeof *dropped) *dropped = -1;
  close(fds[0]);
  close(fds[1]);
  return codes;
}

TEST(ExpertParallel, TwoRankLayerEqualsOneProcessForwardAndBackward) {
  const std::vector<int> ok{0, 0};
  int64_t dropped = -1;
  EXPECT_EQ(run_case({0.0, "score", {}}, &dropped), ok) << "dropless";
  EXPECT_EQ(dropped, 0);
  EXPECT_EQ(run_case({0.75, "score", {}}, &dropped), ok) << "drops, score policy";
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(run_case({0.75, "position", {}}, &dropped), ok) << "drops, position policy";
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(run_case({0.0, "score", {3}}, &dropped), ok) << "expert 3 (rank 1) empty";
  EXPECT_EQ(run_case({0.0, "score", {2, 3}}, &dropped), ok) << "rank 1 receives no tokens";
}

TEST(ExpertParallel, FourRankLayerEqualsOneProcessForwardAndBackward) {
  // 8 experts, 2 per rank.
  const std::vector<int> ok{0, 0, 0, 0};
  int64_t dropped = -1;
  EXPECT_EQ(run_case({0.0, "score", {}, 4, 8}, &dropped), ok) << "dropless";
  EXPECT_EQ(dropped, 0);
  EXPECT_EQ(run_case({0.75, "score", {}, 4, 8}, &dropped), ok) << "drops, score policy";
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(run_case({0.75, "position", {1}, 4, 8}, &dropped), ok) << "drops, position policy, expert 1 empty";
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(run_case({0.0, "score", {6, 7}, 4, 8}, &dropped), ok) << "rank 3 receives no tokens";
}

TEST(ExpertParallel, ExpertsMustDivideOverTheRanks) {
  EXPECT_EQ(expert_shard(8, 0, 2).first, 0);
  EXPECT_EQ(expert_shard(8, 1, 2).first, 4);
  EXPECT_EQ(expert_shard(8, 1, 2).count, 4);
  EXPECT_EQ(expert_shard(8, 3, 8).first, 3);
  try {
    expert_shard(6, 0, 4);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("moe.n_routed = 6 does not divide over 4 ranks"), std::string::npos)
        << e.what();
  }
}

}  // namespace
