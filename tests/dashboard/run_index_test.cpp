// run_index_test.cpp: incremental indexing: only appended bytes are parsed, a half-written
// last line waits, malformed lines are skipped with warnings, rewritten logs restart, and
// train/eval/remediation/compress records land in the right columns.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "dashboard/run_catalog.h"
#include "dashboard/run_index.h"
#include "io/jsonl.h"
#include "io/io_test_util.h"
#include "synthetic_log.h"

namespace moescope::dashboard {
namespace {

void append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f << text;
}

}  // namespace

TEST(JsonlTail, ReadsOnlyCompleteNewLines) {
  moescope::testing::TempDir tmp;
  const std::string p = tmp.file("m.jsonl");
  JsonlTail tail(p);
  EXPECT_TRUE(tail.poll(1 << 20).lines.empty());  // missing file: nothing, no error
  append(p, "{\"a\":1}\n{\"a\":2");
  TailPoll r = tail.poll(1 << 20);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].record["a"], 1);
  append(p, "}\nnot json\n[1,2]\n{\"a\":3}\n");
  r = tail.poll(1 << 20);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].record["a"], 2);
  EXPECT_EQ(r.lines[1].record["a"], 3);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("m.jsonl:3: skipped record: malformed JSON"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[1].find(":4: skipped record: not a JSON object"), std::string::npos) << r.warnings[1];
  EXPECT_EQ(read_line_at(p, r.lines[1].offset, r.lines[1].length)["a"], 3);
  EXPECT_TRUE(tail.poll(1 << 20).lines.empty());
}

// A file that shrank, or was rewritten in place (same inode) longer with the byte before the read
// offset no longer a newline, or after rewind(): starts over.
TEST(JsonlTail, RestartsWhenTheFileShrinksOrIsRewrittenInPlace) {
  moescope::testing::TempDir tmp;
  const std::string p = tmp.file("m.jsonl");
  append(p, "{\"a\":1}\n{\"a\":22}\n");
  JsonlTail tail(p);
  EXPECT_EQ(tail.poll(1 << 20).lines.size(), 2u);
  {
    std::ofstream f(p, std::ios::trunc);
    f << "{\"b\":1}\n";
  }
  TailPoll r = tail.poll(1 << 20);
  EXPECT_TRUE(r.restarted);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].record["b"], 1);
  append(p, "{\"a\":22}\n");
  EXPECT_EQ(tail.poll(1 << 20).lines.size(), 1u);  // offset 17, after a newline
  {
    std::ofstream f(p, std::ios::binary | std::ios::in | std::ios::out);
    f << "{\"b\":11}\n{\"b\":22}\n";
  }
  r = tail.poll(1 << 20);
  EXPECT_TRUE(r.restarted);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].record["b"], 11);
  tail.rewind();
  r = tail.poll(1 << 20);
  EXPECT_TRUE(r.restarted);
  EXPECT_EQ(r.lines.size(), 2u);
}

TEST(JsonlTail, SmallReadCapStillMakesProgress) {
  moescope::testing::TempDir tmp;
  const std::string p = tmp.file("m.jsonl");
  append(p, "{\"a\":\"" + std::string(1000, 'x') + "\"}\n{\"a\":2}\n");
  JsonlTail tail(p);
  append(p, std::string(5000, ' ') + "\n{\"a\":3}\n");
  TailPoll r = tail.poll(16);  // far less than the first line: it is still read whole
  ASSERT_GE(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].record["a"].get<std::string>().size(), 1000u);
  EXPECT_TRUE(r.more);
  std::vector<int> rest;
  for (size_t i = 1; i < r.lines.size(); ++i) rest.push_back(r.lines[i].record["a"]);
  for (int polls = 0; r.more && polls < 1000; ++polls) {
    r = tail.poll(16);
    for (auto& l : r.lines) rest.push_back(l.record["a"]);
  }
  EXPECT_FALSE(r.more);
  EXPECT_EQ(rest, (std::vector<int>{2, 3}));
}

TEST(RunIndex, IndexesTrainEvalAndAlertsIncrementally) {
  moescope::testing::TempDir tmp;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 30;
  spec.every = 10;
  spec.first_step = 10;
  spec.layers = 3;
  spec.experts = 8;
  spec.coactivation_every = 10;
  spec.eval_every = 5;
  spec.alert_every = 15;
  moescope::testing::write_synthetic_run(tmp.path(), spec);
  RunIndex idx(tmp.path());
  idx.update_all();
  {
    auto lock = idx.read_lock();
    EXPECT_EQ(idx.kind(), "train");
    EXPECT_EQ(idx.train().rows(), 30u);
    EXPECT_EQ(idx.eval().rows(), 6u);
    EXPECT_EQ(idx.layers(), (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(idx.experts(), 8);
    EXPECT_EQ(idx.alerts().size(), 2u);
    EXPECT_EQ(idx.coactivation_rows(), (std::vector<size_t>{9, 19, 29}));
    EXPECT_EQ(idx.train().entities("entropy_norm"), (std::vector<std::string>{"1", "2", "3"}));
    ASSERT_NE(idx.train().column("loss", ""), nullptr);
    ASSERT_NE(idx.eval().column("maxvio_global", "2"), nullptr);
    EXPECT_FLOAT_EQ((*idx.eval().column("maxvio_global", "2"))[0], 0.2f);
    const auto rec = idx.record_at(4);
    EXPECT_EQ(rec["step"], 50);
    EXPECT_EQ(rec["moe"].size(), 3u);
  }
  const uint64_t v = idx.version();
  spec.first_step = 310;
  spec.records = 1;
  moescope::testing::write_synthetic_run(tmp.path(), spec, /*append=*/true);
  append(
      tmp.file("metrics.jsonl"),
      "{\"schema\":1,\"type\":\"remediation\",\"step\":310,\"layer\":2,\"action\":\"jitter\",\"from\":0,\"to\":0.01}\n"
      "{\"schema\":1,\"type\":\"train\",\"step\":320,\"lo");  // still being written
  RunIndex::UpdateResult u = idx.update();
  EXPECT_EQ(u.new_records, 2u);
  EXPECT_TRUE(u.warnings.empty());
  auto lock = idx.read_lock();
  EXPECT_GT(idx.version(), v);
  EXPECT_EQ(idx.train().rows(), 31u);
  EXPECT_EQ(idx.train().steps().back(), 310);
  ASSERT_EQ(idx.remediations().size(), 1u);
  EXPECT_EQ(idx.remediations()[0]["action"], "jitter");
}

TEST(RunIndex, SkipsBadRecordsWithWarnings) {
  moescope::testing::TempDir tmp;
  append(tmp.file("metrics.jsonl"),
         "{\"schema\":1,\"type\":\"train\",\"step\":10,\"loss\":2}\n"
         "{\"schema\":1,\"type\":\"train\",\"loss\":2}\n"             // no step
         "{\"schema\":1,\"type\":\"train\",\"step\":5,\"loss\":2}\n"  // goes backwards
         "{\"schema\":1,\"type\":\"mystery\",\"step\":11}\n"
         "{\"schema\":1,\"type\":\"train\",\"step\":20,\"loss\":\n"
         "{\"schema\":1,\"type\":\"train\",\"step\":30,\"loss\":1}\n");
  RunIndex idx(tmp.path());
  RunIndex::UpdateResult u = idx.update();
  EXPECT_EQ(u.warnings.size(), 4u);
  auto lock = idx.read_lock();
  EXPECT_EQ(idx.train().steps(), (std::vector<double>{10, 30}));
  EXPECT_EQ(idx.warning_count(), 4u);
}

TEST(RunIndex, CompressRunsAreChartedPerGroup) {
  moescope::testing::TempDir tmp;
  std::string log;
  for (int it = 0; it < 3; ++it)
    log += "{\"schema\":1,\"type\":\"compress\",\"step\":" + std::to_string(it) +
           ",\"solver\":\"altmin\",\"seconds\":0.5,\"groups\":["
           "{\"group\":\"layer1.gate\",\"layer\":1,\"family\":\"gate\",\"rel_error\":" +
           std::to_string(0.5 / (it + 1)) +
           ",\"nonfinite\":0},"
           "{\"group\":\"layer1.up\",\"layer\":1,\"family\":\"up\",\"rel_error\":0.4,\"cond\":12}]}\n";
  log += "{\"schema\":1,\"type\":\"compress_summary\",\"seconds\":1.5}\n";
  append(tmp.file("metrics.jsonl"), log);
  RunIndex idx(tmp.path());
  idx.update_all();
  auto lock = idx.read_lock();
  EXPECT_EQ(idx.kind(), "compress");
  EXPECT_EQ(idx.compress().rows(), 3u);
  EXPECT_EQ(idx.compress().entities("rel_error"), (std::vector<std::string>{"layer1.gate", "layer1.up"}));
  EXPECT_NEAR((*idx.compress().column("rel_error", "layer1.gate"))[2], 0.5 / 3, 1e-5);
  EXPECT_EQ(idx.compress().entities("cond"), std::vector<std::string>{"layer1.up"});
  EXPECT_EQ(idx.compress_summary()["seconds"], 1.5);
}

}  // namespace moescope::dashboard

namespace moescope::dashboard {

TEST(RunIndex, MisTypedFieldsAreNamedWithFileAndLine) {
  moescope::testing::TempDir tmp;
  append(tmp.file("metrics.jsonl"),
         "{\"schema\":1,\"type\":\"train\",\"step\":10,\"loss\":2}\n"
         "{\"schema\":1,\"type\":\"train\",\"step\":\"forty\",\"loss\":2}\n"
         "{\"schema\":1,\"type\":[1],\"step\":50}\n");
  RunIndex idx(tmp.path());
  RunIndex::UpdateResult u = idx.update();
  ASSERT_EQ(u.warnings.size(), 2u);
  const std::string m = tmp.file("metrics.jsonl");
  EXPECT_EQ(u.warnings[0], m + ":2: field 'step' must be a number, got string \"forty\"; train record skipped");
  EXPECT_EQ(u.warnings[1], m + ":3: field 'type' must be a string, got array [...]; record skipped");
}

TEST(JsonlTail, OverLongAndDeepLinesAreSkippedWithBoundedMemory) {
  moescope::testing::TempDir tmp;
  const std::string p = tmp.file("m.jsonl");
  append(p, "{\"a\":1}\n");
  // A line past the limit, without its newline yet (a writer still going, or gone mad).
  append(p, "{\"a\":\"" + std::string(kMaxJsonlLineBytes + 100, 'x'));
  JsonlTail tail(p);
  std::vector<std::string> warnings;
  std::vector<int> got;
  auto drain = [&] {
    for (int polls = 0; polls < 1000; ++polls) {
      TailPoll r = tail.poll(1 << 20);
      for (auto& l : r.lines) got.push_back(l.record["a"]);
      warnings.insert(warnings.end(), r.warnings.begin(), r.warnings.end());
      if (!r.more) break;
    }
  };
  drain();
  EXPECT_EQ(got, (std::vector<int>{1}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("m.jsonl:2: skipped record: line longer than the limit of 64 MiB"), std::string::npos)
      << warnings[0];
  // The rest of the long line is discarded as it comes; the next line is read.
  append(p, "yyyy\"}\n{\"a\":2}\n{\"a\":" + std::string(100000, '[') + "}\n{\"a\":3}\n");
  drain();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[1].find("m.jsonl:4: skipped record: JSON nested deeper than 128 levels"), std::string::npos)
      << warnings[1];
}

TEST(RunCatalog, NeverReadsFilesThatResolveOutsideTheLogDirectory) {
  // Issue 13: a run directory whose files are symlinks out of the log directory was served.
  moescope::testing::TempDir logdir, outside;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 5;
  spec.alert_every = 1;
  moescope::testing::write_synthetic_run(outside.path(), spec);
  moescope::testing::write_synthetic_run(logdir.path() + "/ok", spec);
  std::filesystem::create_directories(logdir.path() + "/linked");
  std::filesystem::create_symlink(outside.file("metrics.jsonl"), logdir.path() + "/linked/metrics.jsonl");
  std::filesystem::remove(logdir.path() + "/ok/alerts.jsonl");
  std::filesystem::create_symlink(outside.file("alerts.jsonl"), logdir.path() + "/ok/alerts.jsonl");
  RunCatalog catalog(logdir.path());
  EXPECT_EQ(catalog.ids(), (std::vector<std::string>{"ok"}));  // "linked" is not a run here
  const std::vector<std::string> warnings = catalog.update_all();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("alerts.jsonl' resolves outside the log directory; not read"), std::string::npos)
      << warnings[0];
  EXPECT_TRUE(catalog.update_all().empty());  // said once, not at every poll
  auto r = catalog.find("ok");
  {
    auto lock = r->read_lock();
    EXPECT_EQ(r->train().rows(), 5u);
    EXPECT_TRUE(r->alerts().empty());
  }
  // A log swapped for a link after it was indexed: the heatmap's re-read refuses it too.
  std::filesystem::rename(logdir.path() + "/ok/metrics.jsonl", logdir.path() + "/ok/old.jsonl");
  std::filesystem::create_symlink(outside.file("metrics.jsonl"), logdir.path() + "/ok/metrics.jsonl");
  EXPECT_THROW(r->record_at(0), std::runtime_error);
  // Without confinement (`moescope report` on a run the user names) links are followed.
  RunCatalogConfig open;
  open.confine = false;
  RunCatalog unconfined(logdir.path() + "/linked", open);
  EXPECT_EQ(unconfined.ids().size(), 1u);
}

}  // namespace moescope::dashboard

namespace moescope::dashboard {

// A log rewritten under the index with the same line lengths (no size or boundary change to
// notice): record_at refuses the stale line (its step differs) instead of serving it, and after
// request_reindex() the next update reads the file again and the record is served (issue 31:
// the dashboard answered 503 on every retry).
TEST(RunIndex, RecordAtRefusesARewrittenLineAndReindexesOnRequest) {
  moescope::testing::TempDir tmp;
  auto rec = [](int step, const char* loss) {
    return "{\"schema\":1,\"type\":\"train\",\"step\":" + std::to_string(step) + ",\"loss\":" + loss + "}\n";
  };
  append(tmp.file("metrics.jsonl"), rec(10, "2.5") + rec(20, "2.4"));
  RunIndex idx(tmp.path());
  idx.update_all();
  EXPECT_EQ(idx.record_at(1)["step"], 20);
  {
    std::ofstream f(tmp.file("metrics.jsonl"), std::ios::binary | std::ios::in | std::ios::out);
    f << rec(30, "2.3") + rec(40, "2.2");
  }
  EXPECT_FALSE(idx.update().restarted);  // nothing the tail can see
  try {
    idx.record_at(1);
    ADD_FAILURE() << "served a stale line";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no longer the train record of step 20"), std::string::npos) << e.what();
  }
  idx.request_reindex();
  EXPECT_TRUE(idx.update().restarted);
  auto lock = idx.read_lock();
  EXPECT_EQ(idx.train().steps(), (std::vector<double>{30, 40}));
  EXPECT_EQ(idx.record_at(1)["loss"], 2.2);
}

}  // namespace moescope::dashboard
