// streamed_pass_test.cpp: `scope --model` streamed layer by layer (scope/streamed_pass.h) gives
// the records of the unstreamed pass: the same metrics.jsonl records (every field but the wall
// clock ones, elapsed_s and tokens_per_s, compared exactly: the same operations on the same
// chunks) and the same routing_profile.json, with the hidden states in memory or spilled to a
// file; the memory plan (scope/scope_memory.h) and its refusal; and the CLI on mapped weights.
#include <filesystem>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/jsonl.h"
#include "scope/corpus_scope.h"
#include "scope/scope_memory.h"
#include "../train/train_test_util.h"

using namespace moescope;
using moescope::testing::cli;
using moescope::testing::source_path;

namespace {

Transformer small_model() {
  auto cfg = moescope::testing::tiny_config({"model.n_layers=3"});
  torch::manual_seed(11);
  return Transformer(cfg.model);
}

std::vector<int64_t> tokens(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> t(n);
  for (auto& v : t) v = rng() % 64;
  return t;
}

// The records without their wall-clock fields.
std::vector<nlohmann::json> records(const std::string& run) {
  auto log = read_jsonl(run + "/metrics.jsonl");
  EXPECT_TRUE(log.warnings.empty());
  for (auto& r : log.records) {
    r.erase("elapsed_s");
    r.erase("tokens_per_s");
  }
  return log.records;
}

CorpusScopeResult scope(const std::string& run, bool stream, bool spill, const std::vector<int64_t>& a,
                        const std::vector<int64_t>& b) {
  auto model = small_model();
  CorpusScopeOptions opt;
  opt.batch = 3;
  opt.seq_len = 16;
  opt.log_every = 2;
  opt.coact_every = 2;
  opt.top_tokens = 4;
  opt.force_stream = stream;
  opt.force_spill = spill;
  std::ostringstream out;
  Progress progress(out, false, int64_t(a.size() + b.size()));
  std::vector<CorpusTokens> corpora{{"a", int64_t(a.size()), [&a](int64_t i) { return a.at(i); }},
                                    {"b", int64_t(b.size()), [&b](int64_t i) { return b.at(i); }}};
  return run_corpus_scope(
      model, corpora, opt, ScopeConfig{}, run, "small", [](int64_t id) { return std::to_string(id); }, progress);
}

}  // namespace

TEST(StreamedPass, RecordsEqualTheUnstreamedPass) {
  moescope::testing::ScratchRun s("streamed-pass");
  const auto a = tokens(500, 1), b = tokens(170, 2);
  const auto whole = scope(s.run("whole"), false, false, a, b);
  const auto mem = scope(s.run("mem"), true, false, a, b);
  const auto spill = scope(s.run("spill"), true, true, a, b);
  EXPECT_FALSE(whole.streamed);
  EXPECT_TRUE(mem.streamed);
  EXPECT_EQ(mem.spilled_bytes, 0u);
  // 670 tokens x d_model 32 x fp32, each chunk's slot written once.
  EXPECT_EQ(spill.spilled_bytes, 670u * 32u * 4u);
  EXPECT_FALSE(std::filesystem::exists(s.run("spill") + "/hidden_states.tmp"));
  const auto ref = records(s.run("whole"));
  ASSERT_GE(ref.size(), 4u);
  for (const char* run : {"mem", "spill"}) {
    SCOPED_TRACE(run);
    const auto got = records(s.run(run));
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(got[i], ref[i]) << "record " << i;
    EXPECT_EQ(read_file(s.run(run) + "/routing_profile.json"), read_file(s.run("whole") + "/routing_profile.json"));
  }
  EXPECT_EQ(mem.loss, whole.loss);
  EXPECT_EQ(spill.loss, whole.loss);
}

TEST(StreamedPass, MemoryPlanStreamsSpillsOrRefuses) {
  ScopeMemoryInput in;
  in.weights_total = 1000;
  in.weights_pinned = 50;
  in.largest_part = 100;
  in.working_set = 30;
  in.chunk_hidden = 5;
  in.hidden_total = 200;
  in.routing_total = 20;
  in.budget = 1040;  // weights + working set + 2 chunks' hidden states
  auto p = plan_scope_memory(in);
  EXPECT_FALSE(p.streamed);
  in.budget = 1039;
  p = plan_scope_memory(in);
  EXPECT_TRUE(p.streamed);
  EXPECT_FALSE(p.spill);  // 50 + 100 + 30 + 10 + 20 = 210, + 200 hidden = 410
  EXPECT_EQ(p.minimum, 210u);
  in.budget = 409;
  p = plan_scope_memory(in);
  EXPECT_TRUE(p.spill);
  in.budget = 209;
  try {
    plan_scope_memory(in);
    FAIL() << "a budget below one layer + the working set must be refused";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    for (const char* part : {"--max-memory 209 B", "needs 210 B", "largest mapped layer 100 B", "working set 30 B"})
      EXPECT_NE(m.find(part), std::string::npos) << m;
  }
}

TEST(StreamedPass, CliStreamsMappedWeightsUnderABudget) {
  moescope::testing::ScratchRun s("streamed-cli");
  const std::string model = source_path("tests/fixtures/hf/olmoe");
  // 2,000 characters of the test corpus: the kept routing stays small next to the weights.
  const std::string small = s.run("small.txt");
  write_file_atomic(small, read_file(s.corpus()).substr(0, 2000));
  // --dtype pins the activation dtype: "auto" follows a matmul timing (kept per machine).
  const std::string common =
      " --data " + small + " --device cpu --dtype fp32 --batch 2 --seq-len 16 --log-every 3 --cache-dir " + s.cache();
  auto [rc, out] = cli("scope --model " + model + common + " --weights mapped --out " + s.run("whole"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("peak RSS (VmHWM)"), std::string::npos) << out;
  EXPECT_NE(out.find("scope: compute dtype fp32 (--dtype fp32 (as set)"), std::string::npos) << out;
  // A budget the whole model exceeds (323 KiB of mapped weights + 148 KiB for one chunk) but one
  // layer fits (110 KiB + the chunk + 32 KiB of kept routing).
  std::tie(rc, out) =
      cli("scope --model " + model + common + " --weights mapped --max-memory 400K --out " + s.run("streamed"));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("streaming layer by layer"), std::string::npos) << out;
  EXPECT_NE(out.find("streamed layer by layer"), std::string::npos) << out;
  EXPECT_NE(out.find("scope: streamed layer 1 (3/4), peak RSS"), std::string::npos) << out;  // a line per stage
  const auto ref = records(s.run("whole")), got = records(s.run("streamed"));
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(got[i], ref[i]) << "record " << i;
  EXPECT_EQ(read_file(s.run("streamed") + "/routing_profile.json"),
            read_file(s.run("whole") + "/routing_profile.json"));
  // Too small for one layer: refused before anything is written, naming the numbers.
  std::tie(rc, out) =
      cli("scope --model " + model + common + " --weights mapped --max-memory 4K --out " + s.run("tiny"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--max-memory 4.0 KiB is too small"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(s.run("tiny") + "/metrics.jsonl"));
  std::tie(rc, out) = cli("scope --model " + model + common + " --max-memory lots --out " + s.run("bad"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--max-memory"), std::string::npos) << out;
  std::tie(rc, out) = cli("scope --model " + model + " --data " + small + " --dtype fp16 --out " + s.run("bad2"));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("--dtype"), std::string::npos) << out;
}
