// dist_test.cpp: the torchrun environment, the world group's collectives over real Gloo
// processes on loopback (forked ranks), its failures in bounded time, and the local launcher;
// run_ranks itself enforces its timeout (a hung job fails the test and its process group dies).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "dist/collectives.h"
#include "dist/dist_env.h"
#include "dist/grad_buckets.h"
#include "dist/launcher.h"
#include "dist/process_group.h"

namespace moescope::dist {
namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Forks `world` ranks, in a process group of their own, that each run body(rank) (an
// exception or a failed check -> exit 1) and waits for them. A job still running after
// timeout_s is a test failure naming the ranks left: the whole group (with anything a rank
// started) is killed. Returns each rank's exit code (-1: killed or died of a signal).
std::vector<int> run_ranks(int world, const std::function<void(int)>& body, double timeout_s = 60) {
  std::vector<pid_t> pids;
  pid_t pgid = 0;
  for (int r = 0; r < world; ++r) {
    const pid_t p = fork();
    if (p == 0) {
      setpgid(0, pgid);  // rank 0 leads the group, the others join it
      int code = 0;
      try {
        body(r);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "rank %d: %s\n", r, e.what());
        code = 1;
      }
      std::fflush(stderr);
      _exit(code);
    }
    if (pgid == 0) pgid = p;
    setpgid(p, pgid);  // also here: no race with the child's own call
    pids.push_back(p);
  }
  std::vector<int> codes(static_cast<size_t>(world), -1);
  const double end = now_s() + timeout_s;
  int live = world;
  while (live > 0 && now_s() < end) {
    for (int r = 0; r < world; ++r) {
      int st;
      if (pids[r] > 0 && waitpid(pids[r], &st, WNOHANG) == pids[r]) {
        codes[r] = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        pids[r] = -1;
        --live;
      }
    }
    if (live > 0) usleep(20000);
  }
  if (live > 0) {
    std::string left;
    for (int r = 0; r < world; ++r)
      if (pids[r] > 0) left += (left.empty() ? "" : ", ") + std::to_string(r);
    ADD_FAILURE() << "run_ranks: rank(s) " << left << " of " << world << " still running after " << timeout_s
                  << " s: the process group is killed";
    kill(-pgid, SIGKILL);
    for (pid_t p : pids)
      if (p > 0) waitpid(p, nullptr, 0);
  }
  return codes;
}

DistEnv env_for(int rank, int world, int port, double timeout_s = 10) {
  DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  e.timeout_s = timeout_s;
  return e;
}

#define RANK_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) throw std::runtime_error(std::string("check failed: ") + #cond); \
  } while (0)

TEST(DistEnv, DefaultsToOneProcess) {
  const DistEnv d = parse_dist_env({});
  EXPECT_EQ(d.world_size, 1);
  EXPECT_EQ(d.rank, 0);
  EXPECT_FALSE(d.distributed());
}

TEST(DistEnv, ReadsTheTorchrunVariables) {
  const DistEnv d = parse_dist_env({{"RANK", "3"},
                                    {"WORLD_SIZE", "4"},
                                    {"LOCAL_RANK", "1"},
                                    {"MASTER_ADDR", "10.0.0.2"},
                                    {"MASTER_PORT", "29511"},
                                    {"MOESCOPE_DIST_TIMEOUT_S", "2.5"},
                                    {"GLOO_SOCKET_IFNAME", "lo"}});
  EXPECT_EQ(d.rank, 3);
  EXPECT_EQ(d.world_size, 4);
  EXPECT_EQ(d.local_rank, 1);
  EXPECT_EQ(d.master_addr, "10.0.0.2");
  EXPECT_EQ(d.master_port, 29511);
  EXPECT_DOUBLE_EQ(d.timeout_s, 2.5);
  EXPECT_EQ(d.socket_ifname, "lo");
  EXPECT_TRUE(d.distributed());
}

TEST(DistEnv, BadValuesNameTheVariable) {
  auto msg = [](std::map<std::string, std::string> env) {
    try {
      parse_dist_env(env);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg({{"WORLD_SIZE", "2"}, {"RANK", "2"}}).find("RANK='2'"), std::string::npos);
  EXPECT_NE(msg({{"WORLD_SIZE", "2"}}).find("RANK is not"), std::string::npos);
  EXPECT_NE(msg({{"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(msg({{"MASTER_PORT", "70000"}}).find("MASTER_PORT"), std::string::npos);
  EXPECT_NE(msg({{"MOESCOPE_DIST_TIMEOUT_S", "0"}}).find("MOESCOPE_DIST_TIMEOUT_S"), std::string::npos);
  EXPECT_NE(msg({{"MASTER_ADDR", ""}}).find("MASTER_ADDR"), std::string::npos);
}

TEST(Group, CollectivesAcrossThreeRanks) {
  const int port = free_port("127.0.0.1");
  const auto codes = run_ranks(3, [port](int r) {
    auto g = Group::connect(env_for(r, 3, port));
    RANK_CHECK(g->rank() == r && g->size() == 3);
    // Bucketed mean: several dtypes and a bucket smaller than one tensor.
    std::vector<at::Tensor> ts{torch::full({5}, double(r)), torch::full({2, 3}, float(10 * r)),
                               torch::full({4}, float(r))};
    all_reduce_mean(*g, ts, /*bucket_bytes=*/16);
    RANK_CHECK(torch::allclose(ts[0], torch::full({5}, 1.0)));
    RANK_CHECK(torch::allclose(ts[1], torch::full({2, 3}, 10.f)));
    RANK_CHECK(torch::allclose(ts[2], torch::full({4}, 1.f)));
    std::vector<at::Tensor> bs{torch::full({3}, float(r + 7)), torch::full({2}, int64_t(r + 1))};
    broadcast_all(*g, bs, 1);
    RANK_CHECK(torch::equal(bs[0], torch::full({3}, 8.f)) && torch::equal(bs[1], torch::full({2}, int64_t(2))));
    std::string s = r == 0 ? std::string("knobs of rank 0") : std::string("other");
    broadcast_string(*g, s, 0);
    RANK_CHECK(s == "knobs of rank 0");
    const auto all = g->all_gather(100 + r);
    RANK_CHECK((all == std::vector<int64_t>{100, 101, 102}));
    at::Tensor m = torch::tensor({int64_t(r)});
    g->all_reduce_max(m);
    RANK_CHECK(m.item<int64_t>() == 2);
    // Variable splits: rank r sends (r + j) % 3 rows (valued 100 r + j) to rank j; rank 2 sends
    // nothing to rank 1 ((2 + 1) % 3 = 0).
    std::vector<int64_t> in_splits, out_splits;
    std::vector<at::Tensor> parts;
    for (int j = 0; j < 3; ++j) {
      in_splits.push_back((r + j) % 3);
      out_splits.push_back((j + r) % 3);
      parts.push_back(torch::full({(r + j) % 3, 2}, double(100 * r + j)));
    }
    at::Tensor in = torch::cat(parts),
               out = torch::empty({out_splits[0] + out_splits[1] + out_splits[2], 2}, in.options());
    g->all_to_all(out, in, out_splits, in_splits);
    int64_t off = 0;
    for (int j = 0; j < 3; ++j) {
      RANK_CHECK(torch::equal(out.narrow(0, off, out_splits[j]), torch::full({out_splits[j], 2}, double(100 * j + r))));
      off += out_splits[j];
    }
    g->barrier();
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0}));
}

// Sub-groups (EP x DP): 4 ranks split by rank parity, then by halves; each sub-group's
// collectives involve only its ranks, in the world's rank order; the world still works after.
TEST(Group, SplitMakesSubGroupsOfOneColor) {
  const int port = free_port("127.0.0.1");
  const auto codes = run_ranks(4, [port](int r) {
    auto g = Group::connect(env_for(r, 4, port));
    auto odd = g->split(r % 2);  // {0, 2} and {1, 3}
    RANK_CHECK(odd->size() == 2 && odd->rank() == r / 2);
    at::Tensor t = torch::tensor({int64_t(1) << r});
    odd->all_reduce_sum(t);
    RANK_CHECK(t.item<int64_t>() == (r % 2 == 0 ? 1 + 4 : 2 + 8));
    RANK_CHECK((odd->all_gather(10 * r) == (r % 2 == 0 ? std::vector<int64_t>{0, 20} : std::vector<int64_t>{10, 30})));
    auto half = g->split(r / 2);  // {0, 1} and {2, 3}: a second split, its own store prefix
    RANK_CHECK(half->size() == 2 && half->rank() == r % 2);
    // Rank r sends r + 1 rows valued r to each member; receives (j + 1) rows valued j from member j.
    const std::vector<int64_t> base{int64_t(r / 2) * 2, int64_t(r / 2) * 2 + 1};  // the members' world ranks
    at::Tensor in = torch::full({2 * (r + 1), 1}, double(r), torch::kDouble);
    std::vector<int64_t> in_splits{r + 1, r + 1}, out_splits{base[0] + 1, base[1] + 1};
    at::Tensor out = torch::empty({out_splits[0] + out_splits[1], 1}, torch::kDouble);
    half->all_to_all(out, in, out_splits, in_splits);
    RANK_CHECK(torch::equal(out.narrow(0, 0, out_splits[0]),
                            torch::full({out_splits[0], 1}, double(base[0]), torch::kDouble)));
    RANK_CHECK(torch::equal(out.narrow(0, out_splits[0], out_splits[1]),
                            torch::full({out_splits[1], 1}, double(base[1]), torch::kDouble)));
    at::Tensor w = torch::tensor({int64_t(r)});
    g->all_reduce_sum(w);
    RANK_CHECK(w.item<int64_t>() == 6);
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0, 0}));
}

TEST(Group, FileStoreRendezvousOnTheInterfaceOfGlooSocketIfname) {
  const std::string store = ::testing::TempDir() + "moescope-filestore-" + std::to_string(getpid());
  std::remove(store.c_str());
  const auto codes = run_ranks(2, [store](int r) {
    DistEnv e = env_for(r, 2, /*port=*/1);
    e.store_file = store;
    e.socket_ifname = "lo";
    auto g = Group::connect(e);
    at::Tensor t = torch::full({3}, double(r + 1), torch::kDouble);
    g->all_reduce_sum(t);
    RANK_CHECK(torch::equal(t, torch::full({3}, 3.0, torch::kDouble)));
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0}));
  std::remove(store.c_str());
  // An interface that does not exist is an error naming it.
  DistEnv e = env_for(0, 1, /*port=*/1);
  e.store_file = store;
  e.socket_ifname = "nosuchif0";
  try {
    Group::connect(e);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& err) {
    EXPECT_NE(std::string(err.what()).find("GLOO_SOCKET_IFNAME=nosuchif0"), std::string::npos) << err.what();
  }
  std::remove(store.c_str());
}

TEST(Group, UnreachableStoreFailsWithinTheTimeout) {
  // Rank 1 of 2 whose rank 0 never serves the store.
  const int port = free_port("127.0.0.1");
  const double t0 = now_s();
  std::string what;
  try {
    Group::connect(env_for(1, 2, port, /*timeout_s=*/2));
  } catch (const std::runtime_error& e) {
    what = e.what();
  }
  EXPECT_LT(now_s() - t0, 15);
  EXPECT_NE(what.find("rank 1 of 2: rendezvous through the TCPStore at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" +
                      std::to_string(port)),
            std::string::npos)
      << what;
}

TEST(Group, APeerThatDiesMakesTheCollectiveFail) {
  const int port = free_port("127.0.0.1");
  const double t0 = now_s();
  const auto codes = run_ranks(2, [port](int r) {
    auto g = Group::connect(env_for(r, 2, port, /*timeout_s=*/3));
    // Both ranks past the rendezvous first: a rank 1 that left during rank 0's connect made the
    // rendezvous fail instead (seen once in CI: "Connection closed by peer").
    g->barrier();
    if (r == 1) _exit(0);  // gone without a word
    at::Tensor t = torch::ones({4});
    try {
      g->all_reduce_sum(t);
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("rank 0 of 2: collective 'all_reduce' failed") != std::string::npos) _exit(42);
      throw;
    }
  });
  EXPECT_EQ(codes, (std::vector<int>{42, 0}));
  EXPECT_LT(now_s() - t0, 30);
}

// The overlapped gradient all-reduce (grad_buckets.h) against the blocking bucketed mean on
// the same gradients: two micro-batches, the second armed; a parameter used only in the first
// (its accumulated gradient is reduced after backward) and one never used (zeros). Buckets run
// in reverse registration order, so the last two registered start during backward.
TEST(GradBuckets, OverlappedAllReduceEqualsTheMeanAfterBackward) {
  const int port = free_port("127.0.0.1");
  const auto codes = run_ranks(3, [port](int r) {
    auto g = Group::connect(env_for(r, 3, port));
    auto grad_group = g->split(0);
    torch::manual_seed(7);
    auto opts = torch::TensorOptions().dtype(torch::kDouble).requires_grad(true);
    std::vector<at::Tensor> ps{torch::randn({4}, opts), torch::randn({3, 3}, opts), torch::randn({7}, opts),
                               torch::randn({6, 5}, opts)};  // d (never used), c (first micro-batch only), b, a
    const double k = r + 1;
    auto micro = [&](bool first) {
      const at::Tensor& c = ps[1];
      const at::Tensor& b = ps[2];
      const at::Tensor& a = ps[3];
      at::Tensor loss = (a.sum(1).narrow(0, 0, 3) * k).pow(2).sum() + (b * b * k).sum();
      if (first) loss = loss + (c.matmul(c) * k).sum();
      return loss;
    };
    // Reference: plain backward, then the blocking mean.
    for (bool first : {true, false}) micro(first).backward();
    std::vector<at::Tensor> want;
    for (auto& p : ps) {
      want.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
      p.mutable_grad().reset();
    }
    all_reduce_mean(*g, want);
    GradBuckets buckets(*grad_group, ps, 1.0 / 3, /*bucket_bytes=*/64);
    RANK_CHECK(buckets.n_buckets() == 4);
    for (int step = 0; step < 2; ++step) {
      for (auto& p : ps) p.mutable_grad().reset();
      micro(true).backward();
      buckets.arm();
      micro(false).backward();
      RANK_CHECK(buckets.started_in_backward() == 2);  // a's and b's buckets
      buckets.finish();
      for (size_t i = 0; i < ps.size(); ++i)
        RANK_CHECK(ps[i].grad().defined() && torch::allclose(ps[i].grad(), want[i], 1e-12, 1e-14));
    }
  });
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0}));
}

TEST(RunRanks, AJobPastItsTimeoutFailsAndItsProcessGroupIsKilled) {
  // Rank 1 hangs and leaves a grandchild behind: both are gone when run_ranks returns, within
  // about the timeout, and the test that ran them is marked failed.
  const std::string marker = ::testing::TempDir() + "run-ranks-grandchild-" + std::to_string(getpid());
  std::remove(marker.c_str());
  const double t0 = now_s();
  std::vector<int> codes;
  EXPECT_NONFATAL_FAILURE(codes = run_ranks(
                              2,
                              [&marker](int r) {
                                if (r == 0) return;
                                if (fork() == 0) {
                                  sleep(3);  // outlives the timeout unless the group is killed
                                  std::ofstream(marker) << "alive";
                                  _exit(0);
                                }
                                sleep(60);
                              },
                              /*timeout_s=*/1),
                          "rank(s) 1 of 2 still running after 1 s");
  EXPECT_LT(now_s() - t0, 10);
  EXPECT_EQ(codes, (std::vector<int>{0, -1}));
  sleep(4);
  EXPECT_FALSE(std::ifstream(marker).good()) << "the grandchild survived the timeout";
}

TEST(Launcher, GivesEachRankItsEnvironmentAndExitsZero) {
  LaunchOptions o;
  o.nproc = 3;
  o.exe = "/bin/sh";
  const std::string marker = ::testing::TempDir() + "launch-env-" + std::to_string(getpid());
  o.args = {"-c", "echo $RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MOESCOPE_DIST_TIMEOUT_S > " + marker + ".$RANK"};
  o.timeout_s = 7;
  std::ostringstream log;
  EXPECT_EQ(launch(o, log), 0) << log.str();
  for (int r = 0; r < 3; ++r) {
    std::ifstream f(marker + "." + std::to_string(r));
    std::string rank, world, local, addr, timeout;
    f >> rank >> world >> local >> addr >> timeout;
    EXPECT_EQ(rank, std::to_string(r));
    EXPECT_EQ(world, "3");
    EXPECT_EQ(local, std::to_string(r));
    EXPECT_EQ(addr, "127.0.0.1");
    EXPECT_EQ(std::stod(timeout), 7.0);
    std::remove((marker + "." + std::to_string(r)).c_str());
  }
}

TEST(Launcher, AFailingRankStopsTheOthersAndSetsTheExitCode) {
  LaunchOptions o;
  o.nproc = 2;
  o.exe = "/bin/sh";
  o.grace_s = 2;
  // Rank 0 ignores SIGTERM and would sleep a minute; rank 1 fails as soon as rank 0 has set its
  // trap (marker file; without the wait, a loaded machine let rank 1 exit first, and rank 0 died of
  // the SIGTERM before ignoring it).
  const std::string marker = "/tmp/moescope-launch-trap-" + std::to_string(::getpid());
  std::remove(marker.c_str());
  o.args = {"-c", "if [ $RANK = 1 ]; then while [ ! -e " + marker +
                      " ]; do sleep 0.05; done; exit 3; fi; trap '' TERM; touch " + marker + "; exec sleep 60"};
  std::ostringstream log;
  const double t0 = now_s();
  EXPECT_EQ(launch(o, log), 3);
  EXPECT_LT(now_s() - t0, 20);
  EXPECT_NE(log.str().find("rank 1"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("SIGKILL"), std::string::npos) << log.str();
  std::remove(marker.c_str());
}

TEST(Launcher, RefusesAnEmptyCommand) {
  LaunchOptions o;
  o.nproc = 2;
  std::ostringstream log;
  EXPECT_THROW(launch(o, log), std::invalid_argument);
}

}  // namespace
}  // namespace moescope::dist
