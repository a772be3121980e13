// jsonl_test.cpp: JSONL writing, tolerant reading of damaged logs, and truncation for resume.
#include "io/jsonl.h"

#include <fstream>

#include "io/atomic_file.h"
#include "io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;
using nlohmann::json;

TEST(Jsonl, WriteReadRoundTripAndAppend) {
  TempDir dir;
  const std::string path = dir.file("run/log.jsonl");
  {
    JsonlWriter w(path, false);
    w.write({{"step", 1}, {"loss", 2.5}});
    w.write({{"step", 2}, {"text", "héllo\nworld"}});
    // Flushed per record: visible before the writer closes.
    EXPECT_EQ(read_jsonl(path).records.size(), 2u);
  }
  { JsonlWriter(path, true).write({{"step", 3}}); }
  auto r = read_jsonl(path);
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[1]["text"], "héllo\nworld");
  EXPECT_EQ(r.records[2]["step"], 3);
  const std::string raw = read_file(path);
  EXPECT_EQ(std::count(raw.begin(), raw.end(), '\n'), 3);
  { JsonlWriter(path, false).write({{"step", 9}}); }
  EXPECT_EQ(read_jsonl(path).records.size(), 1u);
}

TEST(Jsonl, InvalidUtf8IsReplacedNotFatal) {
  TempDir dir;
  JsonlWriter w(dir.file("l.jsonl"), false);
  w.write({{"s", std::string("bad\xFF")}});
  auto r = read_jsonl(dir.file("l.jsonl"));
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0]["s"], "bad\xEF\xBF\xBD");
}

TEST(Jsonl, SkipsMalformedAndTruncatedLinesWithWarnings) {
  TempDir dir;
  const std::string path = dir.file("l.jsonl");
  write_file_atomic(path, "{\"step\":1}\n{\"step\":2,\"loss\n\n[1,2]\n{\"step\":3}\r\n{\"step\":4,\"lo");
  auto r = read_jsonl(path);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0]["step"], 1);
  EXPECT_EQ(r.records[1]["step"], 3);
  ASSERT_EQ(r.warnings.size(), 3u);
  EXPECT_NE(r.warnings[0].find(path + ":2:"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[1].find(path + ":4:"), std::string::npos) << r.warnings[1];
  EXPECT_NE(r.warnings[1].find("not a JSON object"), std::string::npos) << r.warnings[1];
  EXPECT_NE(r.warnings[2].find(path + ":6:"), std::string::npos) << r.warnings[2];
  EXPECT_NE(r.warnings[2].find("truncated last line"), std::string::npos) << r.warnings[2];
}

TEST(Jsonl, LastLineWithoutNewlineThatParsesIsKept) {
  TempDir dir;
  write_file_atomic(dir.file("l.jsonl"), "{\"a\":1}\n{\"a\":2}");
  auto r = read_jsonl(dir.file("l.jsonl"));
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Jsonl, AppendAfterCrashStartsOnFreshLine) {
  TempDir dir;
  const std::string path = dir.file("l.jsonl");
  write_file_atomic(path, "{\"step\":1}\n{\"step\":2,\"lo");
  { JsonlWriter(path, true).write({{"step", 3}}); }
  auto r = read_jsonl(path);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1]["step"], 3);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(Jsonl, TruncateAfterStepKeepsEarlierAndKeylessRecords) {
  TempDir dir;
  const std::string path = dir.file("l.jsonl");
  write_file_atomic(path,
                    "{\"step\":1,\"loss\":3}\n{\"event\":\"start\"}\n{\"step\":2}\ngarbage\n{\"step\":3}\n"
                    "{\"step\":2.5}\n{\"step\":\"x\"}\n{\"step\":10}\n{\"step\":4,\"tr");
  truncate_jsonl_after(path, "step", 2);
  EXPECT_EQ(read_file(path), "{\"step\":1,\"loss\":3}\n{\"event\":\"start\"}\n{\"step\":2}\n{\"step\":\"x\"}\n");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"l.jsonl"});
  truncate_jsonl_after(path, "step", -1);
  EXPECT_EQ(read_file(path), "{\"event\":\"start\"}\n{\"step\":\"x\"}\n");
  truncate_jsonl_after(dir.file("missing.jsonl"), "step", 0);  // nothing to do
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.jsonl")));
}

TEST(Jsonl, UnreadableFileIsAnError) {
  TempDir dir;
  expect_error<std::runtime_error>([&] { read_jsonl(dir.file("nope.jsonl")); }, {"nope.jsonl"});
  write_file_atomic(dir.file("f"), "x");
  expect_error<std::runtime_error>([&] { JsonlWriter(dir.file("f/log.jsonl"), true); }, {"f/log.jsonl"});
}

TEST(Jsonl, DeepNestingAndNumberOverflowAreSkippedWithWarnings) {
  // Issue 13: a line nested 100,000 levels deep parsed, then overflowed the stack when used;
  // 1e999 escaped the reader as nlohmann's out_of_range.
  TempDir dir;
  const std::string path = dir.file("l.jsonl");
  const std::string deep = "{\"step\":1,\"moe\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  write_file_atomic(path, "{\"step\":0}\n" + deep + "\n{\"step\":2,\"x\":1e999}\n{\"step\":3}\n");
  auto r = read_jsonl(path);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[1]["step"], 3);
  EXPECT_EQ(r.line_numbers, (std::vector<size_t>{1, 4}));
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find(path + ":2: skipped record: JSON nested deeper than 128 levels"), std::string::npos)
      << r.warnings[0];
  EXPECT_NE(r.warnings[1].find(path + ":3: skipped record: malformed JSON"), std::string::npos) << r.warnings[1];
  EXPECT_NE(r.warnings[1].find("1e999"), std::string::npos) << r.warnings[1];
}

TEST(Jsonl, LineLimitAndPrintableErrors) {
  JsonlLine l = parse_jsonl_line(std::string(kMaxJsonlLineBytes + 1, ' ') + "{}");
  EXPECT_FALSE(l.blank);
  EXPECT_NE(l.error.find("longer than the limit of 64 MiB"), std::string::npos) << l.error;
  l = parse_jsonl_line("{\"a\":\"\xFF\"}");
  EXPECT_NE(l.error.find("malformed JSON"), std::string::npos) << l.error;
  EXPECT_EQ(l.error.find('\xFF'), std::string::npos) << "raw invalid byte in the warning";
}
