// json_guard_test.cpp: the nesting-depth pre-scan (brackets in strings do not count, the scan
// stops early), the guarded parse's errors, and quoting untrusted bytes for messages.
#include "io/json_guard.h"

#include "io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;

TEST(JsonGuard, NestingDepthIgnoresStringsAndStopsEarly) {
  EXPECT_EQ(json_nesting_depth("1"), 0u);
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":[]}]})"), 4u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[{{{{","b":"\"[[["})"), 1u);
  EXPECT_EQ(json_nesting_depth(R"(["\\",[]])"), 2u);  // an escaped backslash ends before the quote
  EXPECT_EQ(json_nesting_depth("]]]]["), 1u);         // stray closers do not go below zero
  const std::string deep(1000000, '[');
  EXPECT_EQ(json_nesting_depth(deep, 10), 11u);  // stops once past the limit
  EXPECT_EQ(json_depth_error(std::string(kMaxJsonDepth, '[')), "");
  EXPECT_EQ(json_depth_error(std::string(kMaxJsonDepth + 1, '[')), "nested deeper than 128 levels");
}

TEST(JsonGuard, GuardedParseRefusesDeepTextAndQuotesTheParserError) {
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error<std::runtime_error>([&] { parse_json_guarded(deep, "f.json"); },
                                   {"f.json: JSON nested deeper than 128 levels"});
  try {
    parse_json_guarded("{\"a\":\xFF}", "g.json");
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("g.json: not valid JSON"), std::string::npos) << what;
    EXPECT_EQ(what.find('\xFF'), std::string::npos) << "raw invalid byte in the message";
    EXPECT_NE(what.find("\\xFF"), std::string::npos) << what;
  }
  EXPECT_EQ(parse_json_guarded(R"({"a":[1,2]})", "h")["a"][1], 2);
}

TEST(JsonGuard, PrintableTextEscapesInvalidUtf8AndControlsAndCuts) {
  EXPECT_EQ(printable_text("ok é ∑ 😀"), "ok é ∑ 😀");
  EXPECT_EQ(printable_text("a\xFF"
                           "b\xC0\xAF"
                           "c"),
            "a\\xFFb\\xC0\\xAFc");
  EXPECT_EQ(printable_text("\xED\xA0\x80"), "\\xED\\xA0\\x80");  // a surrogate is not UTF-8
  EXPECT_EQ(printable_text("\xE2\x82"), "\\xE2\\x82");           // truncated sequence
  EXPECT_EQ(printable_text("line\nbreak\x7F"), "line\\x0Abreak\\x7F");
  EXPECT_EQ(printable_text(std::string(500, 'x'), 10), std::string(10, 'x') + "...");
}
