// log_record_test.cpp: typed run-log field reads name file:line, the field, the type expected
// and what was there; `moescope scope`'s reader skips records of the wrong shape with such a
// warning (issue 13: "step": "forty" gave a bare json.exception.type_error.302).
#include "run/log_record.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "io/remove_tree.h"
#include "run/health.h"

using namespace moescope;
using nlohmann::json;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(LogRecord, TypedFieldsSayWhereWhatAndWhy) {
  const json rec = {{"step", "forty"}, {"layer", 3}, {"big", 18446744073709551615ull},
                    {"x", 1.5},        {"moe", 7},   {"s", "ok"}};
  EXPECT_EQ(error_of([&] { integer_field(rec, "step", "m.jsonl:12"); }),
            "m.jsonl:12: field 'step' must be an integer, got string \"forty\"");
  EXPECT_EQ(integer_field(rec, "layer", "w").value(), 3);
  EXPECT_FALSE(integer_field(rec, "absent", "w").has_value());
  EXPECT_NE(error_of([&] { integer_field(rec, "big", "w"); }).find("must be an integer"),
            std::string::npos);  // > int64
  EXPECT_NE(error_of([&] { integer_field(rec, "x", "w"); }).find("got number 1.5"), std::string::npos);
  EXPECT_EQ(number_field(rec, "x", "w").value(), 1.5);
  EXPECT_EQ(error_of([&] { array_field(rec, "moe", "m:2"); }), "m:2: field 'moe' must be an array, got number 7");
  EXPECT_EQ(error_of([&] { string_field(rec, "layer", "m:2"); }), "m:2: field 'layer' must be a string, got number 3");
  EXPECT_EQ(string_field(rec, "s", "w").value(), "ok");
  EXPECT_EQ(error_of([&] { require_number(rec, "loss", "m:9"); }), "m:9: missing field 'loss' (a number)");
  EXPECT_EQ(log_where("m.jsonl", 0), "m.jsonl");
}

TEST(LogRecord, HealthTableSkipsMisTypedRecordsWithFileLineWarnings) {
  auto dir = std::filesystem::temp_directory_path() / ("moescope-logrecord-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "metrics.jsonl").string();
  {
    std::ofstream f(path);
    f << R"({"schema":1,"type":"train","step":10,"moe":[{"layer":1,"entropy_norm":0.9,"status":"ok"}]})"
         "\n";
    f << R"({"schema":1,"type":"train","step":"forty","moe":[{"layer":1,"status":"collapsed"}]})"
         "\n";
    f << R"({"schema":1,"type":5,"step":50})"
         "\n";
    f << R"({"schema":1,"type":"train","step":60,"moe":{"layer":1}})"
         "\n";
  }
  auto t = read_health_table(path);
  EXPECT_EQ(t.step, 10);
  ASSERT_EQ(t.warnings.size(), 3u);
  EXPECT_EQ(t.warnings[0], path + ":2: field 'step' must be an integer, got string \"forty\"; record skipped");
  EXPECT_EQ(t.warnings[1], path + ":3: field 'type' must be a string, got number 5; record skipped");
  EXPECT_EQ(t.warnings[2], path + ":4: field 'moe' must be an array, got object {...}; record skipped");
  remove_tree_nothrow(dir.string());
}
