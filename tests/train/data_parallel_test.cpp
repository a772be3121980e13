// data_parallel_test.cpp: data-parallel training over Gloo on loopback, through the moescope
// binary (`moescope launch --nproc 2 -- train ...`): 2 ranks x batch 4 train exactly as
// 1 rank x batch 8 (losses and weights, fp32, grad accumulation, bias balancing, switch, seq
// and z losses on, jitter off), every rank ends with bit-identical weights and router biases, a
// run resumes at another world size (2 -> 1, 1 -> 2) on the same loss curve; and the faults: a
// rank killed mid-step, a rank that cannot reach the store, configs that differ between ranks,
// each ending every process in bounded time with a clear error and the last checkpoint intact.
// The microscope's routing metrics of a multi-process run (metrics.jsonl, alerts.jsonl) are
// those of the global batch: equal to the one-process run's. The same at 4 ranks (DP and EP 4).
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "dist/launcher.h"
#include "io/jsonl.h"
#include "io/safetensors.h"
#include "model/tensor_io.h"
#include "run/log_fields.h"
#include "run/run_dir.h"
#include "train_test_util.h"

using namespace moescope;
using moescope::testing::ScratchRun;
namespace fs = std::filesystem;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// {exit status, output}; `timeout` bounds a run that would hang (exit 124).
std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* f = popen(("timeout -k 5 150 sh -c '" + cmd + "' 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int st = pclose(f);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

const std::string kEnv = "MOESCOPE_NO_REEXEC=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 ";

// Global micro-batch 8, 2 micro-batches per step, a constant lr after warm-up (so a 10-step run
// resumed to 20 follows the 20-step run), every balance term on, jitter off.
std::string train_args(const ScratchRun& s, const std::string& run, int steps) {
  return "train --config " + moescope::testing::source_path("configs/tiny.toml") + " --data " + s.corpus() + " --out " +
         run + " --set data.cache_dir=" + s.cache() +
         " --set train.batch_size=8 --set train.grad_accum=2 --set train.max_steps=" + std::to_string(steps) +
         " --set train.log_every=1 --set train.eval_every=10 --set train.ckpt_every=10 --set train.eval_max_batches=2"
         " --set train.min_lr_ratio=1 --set moe.bias_update_rate=0.01 --set moe.aux_loss_alpha=0.01"
         " --set moe.seq_aux_loss_alpha=0.001 --set moe.z_loss_beta=0.001 --set scope.tensorboard=false";
}

std::string one(const std::string& args) { return kEnv + MOESCOPE_BINARY + " " + args; }
std::string two(const std::string& args, const std::string& env = "") {
  return kEnv + env + " " + MOESCOPE_BINARY + " launch --nproc 2 --timeout 20 -- " + args;
}
std::string four(const std::string& args, const std::string& env = "") {
  return kEnv + env + " " + MOESCOPE_BINARY + " launch --nproc 4 --timeout 30 -- " + args;
}

// Under expert parallelism P each rank holds (between steps) only its own 1/P of the routed
// experts: weights, gradients and AdamW moments (MOESCOPE_TEST_RANK_STATE's rank<r>.json),
// counted against the full checkpoint; the rest is replicated. Every rank's gathered model is
// the same, bit for bit.
void expect_expert_shards(const std::string& state, const std::string& ckpt, int world, int ep) {
  const auto full = load_safetensors(ckpt);
  int64_t expert_bytes = 0, expert_params = 0, params = 0;
  for (const auto& t : full.tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (t.name.find("e_score_correction_bias") != std::string::npos) continue;  // a buffer
    params += n;
    if (t.name.find(".mlp.experts.") != std::string::npos) {
      expert_params += n;
      expert_bytes += static_cast<int64_t>(t.bytes.size());
    }
  }
  ASSERT_GT(expert_bytes, 0);
  const auto r0 = load_safetensors(state + "/rank0.safetensors");
  for (int r = 0; r < world; ++r) {
    std::ifstream f(state + "/rank" + std::to_string(r) + ".json");
    ASSERT_TRUE(f.good()) << r;
    const auto j = nlohmann::json::parse(f);
    EXPECT_EQ(j.at("parameters").get<int64_t>(), params - expert_params + expert_params / ep) << "rank " << r;
    EXPECT_EQ(j.at("expert_weight_bytes").get<int64_t>(), expert_bytes / ep) << "rank " << r;
    EXPECT_EQ(j.at("expert_grad_bytes").get<int64_t>(), expert_bytes / ep) << "rank " << r;
    EXPECT_EQ(j.at("expert_moment_bytes").get<int64_t>(), 2 * expert_bytes / ep) << "rank " << r;
    const auto rr = load_safetensors(state + "/rank" + std::to_string(r) + ".safetensors");
    ASSERT_EQ(rr.tensors.size(), r0.tensors.size());
    for (size_t i = 0; i < rr.tensors.size(); ++i)
      EXPECT_EQ(rr.tensors[i].bytes, r0.tensors[i].bytes) << rr.tensors[i].name;
  }
}

std::map<int64_t, double> losses(const std::string& run) {
  std::map<int64_t, double> m;
  for (const auto& r : read_jsonl(metrics_path(run)).records)
    if (r.value("type", "") == "train") {
      EXPECT_EQ(m.count(r.at("step").get<int64_t>()), 0u) << "step logged twice in " << run;
      m[r.at("step").get<int64_t>()] = r.at("loss").get<double>();
    }
  return m;
}

std::map<std::string, at::Tensor> weights(const std::string& path) {
  std::map<std::string, at::Tensor> m;
  for (const auto& t : load_safetensors(path).tensors) m[t.name] = from_record(t);
  return m;
}

void expect_close_losses(const std::map<int64_t, double>& got, const std::map<int64_t, double>& want, int64_t from,
                         int64_t to) {
  for (int64_t s = from; s <= to; ++s) {
    ASSERT_TRUE(got.count(s) && want.count(s)) << "step " << s;
    EXPECT_LE(std::abs(got.at(s) - want.at(s)), 1e-5 * std::abs(want.at(s))) << "step " << s;
  }
}

// Relative error of each tensor, ||got - want|| / ||want|| (Frobenius), at most 1e-5.
void expect_close_weights(const std::string& got_path, const std::string& want_path) {
  const auto got = weights(got_path), want = weights(want_path);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, w] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    const double norm = w.to(torch::kDouble).norm().item<double>();
    const double err = (got.at(name).to(torch::kDouble) - w.to(torch::kDouble)).norm().item<double>();
    EXPECT_LE(err, 1e-5 * std::max(norm, 1e-12)) << name << ": ||want|| = " << norm;
  }
}

// The microscope's per-layer routing metrics of each train and eval record, keyed by (step,
// record type): the slot counts, dead and starved experts, status and co-activation counts
// exactly, the derived and per-token metrics within 1e-6 (relative; the runs' weights agree to
// 1e-5, the routing decisions exactly). And the same alerts.
void expect_same_routing_metrics(const std::string& got_run, const std::string& want_run) {
  namespace f = log_field;
  auto by_step = [](const std::string& run) {
    std::map<std::pair<int64_t, std::string>, nlohmann::json> m;
    for (const auto& r : read_jsonl(metrics_path(run)).records)
      if (r.contains(f::kMoe)) m[{r.at(f::kStep).get<int64_t>(), r.at(f::kType).get<std::string>()}] = r;
    return m;
  };
  const auto got = by_step(got_run), want = by_step(want_run);
  ASSERT_EQ(got.size(), want.size());
  int compared = 0;
  for (const auto& [key, w] : want) {
    ASSERT_TRUE(got.count(key)) << "step " << key.first << " " << key.second;
    const auto& gl = got.at(key).at(f::kMoe);
    const auto& wl = w.at(f::kMoe);
    ASSERT_EQ(gl.size(), wl.size());
    for (size_t i = 0; i < wl.size(); ++i) {
      const std::string where = "step " + std::to_string(key.first) + " " + key.second + " layer " + std::to_string(i);
      for (const char* exact : {f::kCounts, f::kDead, f::kStarved, f::kStatus, f::kCoactivation})
        if (wl[i].contains(exact)) {
          EXPECT_EQ(gl[i].at(exact), wl[i].at(exact)) << where << " " << exact;
        }
      auto close = [&](const nlohmann::json& g, const nlohmann::json& v, const std::string& name) {
        if (v.is_array()) {
          ASSERT_EQ(g.size(), v.size()) << where << " " << name;
          for (size_t k = 0; k < v.size(); ++k)
            EXPECT_NEAR(g[k].get<double>(), v[k].get<double>(), 1e-6 * (1 + std::abs(v[k].get<double>())))
                << where << " " << name;
        } else {
          EXPECT_NEAR(g.get<double>(), v.get<double>(), 1e-6 * (1 + std::abs(v.get<double>()))) << where << " " << name;
        }
      };
      for (const char* name : {f::kLoad, f::kEntropyNorm, f::kNEff, f::kMaxVioBatch, f::kMaxVioGlobal, f::kDropRate,
                               f::kMaxTokenShare, f::kRouterEntropy, "top1_score", "logit_rms", "logit_max",
                               "bias_intervention", "balance_loss", "seq_balance_loss", "z_loss", f::kBias})
        if (wl[i].contains(name)) {
          ASSERT_TRUE(gl[i].contains(name)) << where << " " << name;
          close(gl[i].at(name), wl[i].at(name), name);
          ++compared;
        }
    }
  }
  EXPECT_GT(compared, 20 * 10);  // the train records of 20 steps and the eval records
  auto alerts = [](const std::string& run) {
    std::vector<std::string> v;
    if (fs::exists(alerts_path(run)))
      for (auto a : read_jsonl(alerts_path(run)).records) {
        a.erase("evidence");  // its numbers are the metrics compared above
        v.push_back(a.dump());
      }
    return v;
  };
  EXPECT_EQ(alerts(got_run), alerts(want_run));
}

std::string latest_weights(const std::string& run) { return run + "/checkpoints/latest/model.safetensors"; }

TEST(DataParallel, TwoRanksOfHalfTheBatchTrainAsOneRankWithIdenticalRanks) {
  ScratchRun s("dp-equal");
  const std::string a = s.run("one"), b = s.run("two"), state = s.run("rank-state");
  fs::create_directories(state);
  auto [ca, oa] = sh(one(train_args(s, a, 20)));
  ASSERT_EQ(ca, 0) << oa;
  auto [cb, ob] = sh(two(train_args(s, b, 20), "MOESCOPE_TEST_RANK_STATE=" + state));
  ASSERT_EQ(cb, 0) << ob;
  EXPECT_NE(ob.find("data parallel over 2 ranks"), std::string::npos) << ob;
  const auto la = losses(a), lb = losses(b);
  EXPECT_EQ(lb.size(), 20u);  // rank 0 alone writes the log
  expect_close_losses(lb, la, 1, 20);
  expect_close_weights(latest_weights(b), latest_weights(a));
  // Every rank ends with the same weights and router biases, bit for bit.
  const auto r0 = load_safetensors(state + "/rank0.safetensors"), r1 = load_safetensors(state + "/rank1.safetensors");
  ASSERT_EQ(r0.tensors.size(), r1.tensors.size());
  int biases = 0;
  for (size_t i = 0; i < r0.tensors.size(); ++i) {
    EXPECT_EQ(r0.tensors[i].name, r1.tensors[i].name);
    EXPECT_EQ(r0.tensors[i].bytes, r1.tensors[i].bytes) << r0.tensors[i].name;
    biases += r0.tensors[i].name.find("e_score_correction_bias") != std::string::npos;
  }
  EXPECT_EQ(biases, 1);  // tiny: one MoE layer
  // The bias moved (the balancing acted), identically in both runs.
  const auto wa = weights(latest_weights(a));
  for (const auto& [name, t] : wa)
    if (name.find("e_score_correction_bias") != std::string::npos) {
      EXPECT_GT(t.abs().max().item<double>(), 0.0);
    }
  // The microscope sums every rank's counts: rank 0 logs the global batch's routing metrics.
  expect_same_routing_metrics(b, a);
  // 4 ranks x batch 2 train as 1 x 8 too, with the same metrics.
  const std::string d = s.run("four");
  auto [cd, od] = sh(four(train_args(s, d, 20)));
  ASSERT_EQ(cd, 0) << od;
  EXPECT_NE(od.find("data parallel over 4 ranks"), std::string::npos) << od;
  expect_close_losses(losses(d), la, 1, 20);
  expect_close_weights(latest_weights(d), latest_weights(a));
  expect_same_routing_metrics(d, a);
  // EP 2 x DP 2 (dropless): experts split within {0, 1} and {2, 3}, data parallel across them.
  const std::string e = s.run("ep2dp2"), ep_state = s.run("ep2dp2-state");
  fs::create_directories(ep_state);
  auto [ce, oe] =
      sh(four(train_args(s, e, 20) + " --set train.expert_parallel=2", "MOESCOPE_TEST_RANK_STATE=" + ep_state));
  ASSERT_EQ(ce, 0) << oe;
  expect_expert_shards(ep_state, latest_weights(e), 4, 2);
  expect_close_losses(losses(e), la, 1, 20);
  expect_close_weights(latest_weights(e), latest_weights(a));
  expect_same_routing_metrics(e, a);
  // The tokens did travel (rank 0's time in the all-to-all), and not in plain DP.
  auto all_to_all_s = [](const std::string& run) {
    double t = 0;
    for (const auto& r : read_jsonl(metrics_path(run)).records) t += r.value("dist_all_to_all_s", 0.0);
    return t;
  };
  EXPECT_GT(all_to_all_s(e), 0.0);
  EXPECT_EQ(all_to_all_s(d), 0.0);
}

TEST(DataParallel, ResumeAtAnotherWorldSizeContinuesTheSameCurve) {
  ScratchRun s("dp-resume");
  const std::string ref = s.run("ref"), down = s.run("two-then-one"), up = s.run("one-then-two");
  auto [c0, o0] = sh(one(train_args(s, ref, 20)));
  ASSERT_EQ(c0, 0) << o0;
  // 2 -> 1
  auto [c1, o1] = sh(two(train_args(s, down, 10)));
  ASSERT_EQ(c1, 0) << o1;
  auto [c2, o2] = sh(one("train --out " + down + " --resume --set train.max_steps=20"));
  ASSERT_EQ(c2, 0) << o2;
  // 1 -> 2
  auto [c3, o3] = sh(one(train_args(s, up, 10)));
  ASSERT_EQ(c3, 0) << o3;
  auto [c4, o4] = sh(two("train --out " + up + " --resume --set train.max_steps=20"));
  ASSERT_EQ(c4, 0) << o4;
  const auto want = losses(ref);
  expect_close_losses(losses(down), want, 1, 20);
  expect_close_losses(losses(up), want, 1, 20);
  expect_close_weights(latest_weights(down), latest_weights(ref));
  expect_close_weights(latest_weights(up), latest_weights(ref));
}

// The largest capacity drop rate any train record reports.
double max_drop_rate(const std::string& run) {
  double m = 0;
  for (const auto& r : read_jsonl(metrics_path(run)).records)
    if (r.value("type", "") == "train" && r.contains("moe"))
      for (const auto& l : r.at("moe")) m = std::max(m, l.at("drop_rate").get<double>());
  return m;
}

TEST(DataParallel, ExpertParallelWithDropsTrainsAsOneProcessAndResumesAtEp1) {
  // Capacity factor 1: experts drop assignments. Under EP the capacity decision is the global
  // batch's, so 2 ranks with EP 2 equal one process; a run saved at EP 2 resumes at EP 1.
  ScratchRun s("ep-equal");
  const std::string ref = s.run("one"), ep = s.run("ep2"), down = s.run("ep2-then-1");
  const std::string cap = " --set moe.capacity_factor=1.0", ep2 = " --set train.expert_parallel=2";
  auto [c0, o0] = sh(one(train_args(s, ref, 20) + cap));
  ASSERT_EQ(c0, 0) << o0;
  auto [c1, o1] = sh(two(train_args(s, ep, 20) + cap + ep2));
  ASSERT_EQ(c1, 0) << o1;
  EXPECT_GT(max_drop_rate(ref), 0.0);
  EXPECT_GT(max_drop_rate(ep), 0.0);
  expect_close_losses(losses(ep), losses(ref), 1, 20);
  expect_close_weights(latest_weights(ep), latest_weights(ref));
  expect_same_routing_metrics(ep, ref);  // drop rates included: the global capacity decision
  // EP 4: one expert per rank.
  const std::string ep4 = s.run("ep4");
  const std::string ep4_state = s.run("ep4-state");
  fs::create_directories(ep4_state);
  auto [c5, o5] = sh(
      four(train_args(s, ep4, 20) + cap + " --set train.expert_parallel=4", "MOESCOPE_TEST_RANK_STATE=" + ep4_state));
  ASSERT_EQ(c5, 0) << o5;
  expect_expert_shards(ep4_state, latest_weights(ep4), 4, 4);  // one expert per rank
  expect_close_losses(losses(ep4), losses(ref), 1, 20);
  expect_close_weights(latest_weights(ep4), latest_weights(ref));
  expect_same_routing_metrics(ep4, ref);
  auto [c2, o2] = sh(two(train_args(s, down, 10) + cap + ep2));
  ASSERT_EQ(c2, 0) << o2;
  auto [c3, o3] = sh(one("train --out " + down + " --resume --set train.max_steps=20 --set train.expert_parallel=1"));
  ASSERT_EQ(c3, 0) << o3;
  expect_close_losses(losses(down), losses(ref), 1, 20);
  expect_close_weights(latest_weights(down), latest_weights(ref));
  // EP 1 -> EP 2: each rank takes its experts from the full checkpoint.
  const std::string up = s.run("ep1-then-2");
  auto [c6, o6] = sh(one(train_args(s, up, 10) + cap));
  ASSERT_EQ(c6, 0) << o6;
  auto [c7, o7] = sh(two("train --out " + up + " --resume --set train.max_steps=20" + ep2));
  ASSERT_EQ(c7, 0) << o7;
  expect_close_losses(losses(up), losses(ref), 1, 20);
  expect_close_weights(latest_weights(up), latest_weights(ref));
  // EP must divide the world size.
  auto [c4, o4] = sh(one(train_args(s, s.run("bad"), 2) + ep2));
  EXPECT_EQ(c4, 2) << o4;
  EXPECT_NE(o4.find("train.expert_parallel = 2 needs a WORLD_SIZE divisible by it (now 1)"), std::string::npos) << o4;
}

// The remediation ladder decides once, on rank 0, from the global metrics, and every rank
// applies it: 2 ranks take the same actions at the same steps as one process, and end with
// bit-identical weights and router biases (a rung that rank 1 missed, bias_rate, would leave
// its bias behind). entropy_floor 1 keeps low_entropy firing, so the ladder acts every
// `cooldown` intervals (microscope_test's RemediationLadderContinuesAcrossResume).
TEST(DataParallel, RemediationIsDecidedOnceAndAppliedOnEveryRank) {
  ScratchRun s("dp-remediate");
  const std::string a = s.run("one"), b = s.run("two"), state = s.run("rank-state");
  fs::create_directories(state);
  const std::string knobs =
      " --set moe.bias_balance=false --set scope.remediate=true --set scope.entropy_floor=1 --set scope.window=1"
      " --set scope.cooldown=2 --set train.router_lr_mult=16";
  auto [ca, oa] = sh(one(train_args(s, a, 6) + knobs));
  ASSERT_EQ(ca, 0) << oa;
  auto [cb, ob] = sh(two(train_args(s, b, 6) + knobs, "MOESCOPE_TEST_RANK_STATE=" + state));
  ASSERT_EQ(cb, 0) << ob;
  auto actions = [](const std::string& run) {
    std::vector<std::string> v;
    for (const auto& r : read_jsonl(metrics_path(run)).records)
      if (r.value("type", "") == "remediation")
        v.push_back(std::to_string(r.at("step").get<int64_t>()) + ":" + r.at("action").get<std::string>() + ":" +
                    r.at("to").dump());
    return v;
  };
  const auto va = actions(a);
  ASSERT_GE(va.size(), 3u) << ::testing::PrintToString(va);  // steps 1, 3, 5
  EXPECT_EQ(actions(b), va);
  const auto r0 = load_safetensors(state + "/rank0.safetensors"), r1 = load_safetensors(state + "/rank1.safetensors");
  ASSERT_EQ(r0.tensors.size(), r1.tensors.size());
  for (size_t i = 0; i < r0.tensors.size(); ++i)
    EXPECT_EQ(r0.tensors[i].bytes, r1.tensors[i].bytes) << r0.tensors[i].name;
  // Under EP 2 (each rank holds half the experts): rank 0 decides on gathered experts, and its
  // changes reach the owners; the same actions, the same model on both ranks.
  const std::string e = s.run("ep2"), ep_state = s.run("ep2-state");
  fs::create_directories(ep_state);
  auto [ce, oe] =
      sh(two(train_args(s, e, 6) + knobs + " --set train.expert_parallel=2", "MOESCOPE_TEST_RANK_STATE=" + ep_state));
  ASSERT_EQ(ce, 0) << oe;
  EXPECT_EQ(actions(e), va);
  expect_expert_shards(ep_state, latest_weights(e), 2, 2);
}

TEST(DataParallelFaults, ARankKilledMidStepEndsTheJobAndTheCheckpointResumes) {
  ScratchRun s("dp-kill");
  const std::string run = s.run("run");
  // Rank 1 sends itself SIGKILL at its 25th crash point (a micro-batch of step 11; the latest
  // checkpoint is step 10's).
  const double t0 = now_s();
  auto [c, o] = sh(two(train_args(s, run, 20), "MOESCOPE_TEST_KILL_AT=25 MOESCOPE_TEST_KILL_RANK=1"));
  EXPECT_LT(now_s() - t0, 60);
  EXPECT_NE(c, 0) << o;
  EXPECT_NE(o.find("launch: rank 1"), std::string::npos) << o;
  EXPECT_NE(o.find("signal 9"), std::string::npos) << o;
  // No rank is left behind, and the last checkpoint (step 10) resumes to the end.
  auto [cr, orr] = sh(two("train --out " + run + " --resume"));
  ASSERT_EQ(cr, 0) << orr;
  EXPECT_NE(orr.find("resumed " + run + " at step 10"), std::string::npos) << orr;
  EXPECT_EQ(losses(run).size(), 20u);
}

TEST(DataParallelFaults, ARankThatCannotReachTheStoreFailsWithinTheTimeout) {
  ScratchRun s("dp-store");
  const int port = dist::free_port("127.0.0.1");
  const double t0 = now_s();
  auto [c, o] = sh(kEnv + "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                   " MOESCOPE_DIST_TIMEOUT_S=2 " + MOESCOPE_BINARY + " " + train_args(s, s.run("run"), 4));
  EXPECT_LT(now_s() - t0, 30);
  EXPECT_EQ(c, 2) << o;
  EXPECT_NE(o.find("rank 1 of 2: rendezvous through the TCPStore at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" +
                   std::to_string(port) + " failed within 2 s"),
            std::string::npos)
      << o;
}

TEST(DataParallelFaults, ConfigsThatDifferBetweenRanksAreRefusedByEveryRank) {
  ScratchRun s("dp-config");
  const std::string run = s.run("run");
  const int port = dist::free_port("127.0.0.1");
  const std::string env =
      kEnv + "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " MOESCOPE_DIST_TIMEOUT_S=20 ";
  const std::string out0 = s.run("out0"), out1 = s.run("out1");
  const double t0 = now_s();
  auto [c, o] = sh("(" + env + "RANK=0 " + MOESCOPE_BINARY + " " + train_args(s, run, 4) + " > " + out0 +
                   " 2>&1; echo $? >> " + out0 + ") & (" + env + "RANK=1 " + MOESCOPE_BINARY + " " +
                   train_args(s, run, 4) + " --set train.lr=0.001 > " + out1 + " 2>&1; echo $? >> " + out1 + "); wait");
  EXPECT_LT(now_s() - t0, 60);
  for (const auto& f : {out0, out1}) {
    std::ifstream in(f);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("the config of rank(s) 1 differs from rank 0's"), std::string::npos) << text;
    EXPECT_NE(text.find("\n2\n"), std::string::npos) << text;  // exit status 2, an error
  }
  EXPECT_FALSE(fs::exists(run + "/config.json"));  // nothing written
}

}  // namespace
