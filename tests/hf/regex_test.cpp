// regex_test.cpp: the tokenizer regex engine: ECMAScript semantics (ordered alternation,
// backtracking, lookahead, empty matches), Unicode categories, and refusing what it lacks.
#include "hf/regex.h"

#include "hf/unicode_norm.h"
#include "../io/io_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using Matches = std::vector<std::pair<uint32_t, uint32_t>>;

namespace {

Matches find(const std::string& pattern, const std::string& text) {
  std::vector<uint32_t> cps;
  utf8_to_code_points(text, &cps);
  Matches m;
  HfRegex(pattern).find_all(cps.data(), cps.size(), &m);
  return m;
}

std::vector<std::string> pieces(const std::string& pattern, const std::string& text) {
  std::vector<uint32_t> cps, offs;
  utf8_to_code_points(text, &cps, &offs);
  Matches m;
  HfRegex(pattern).find_all(cps.data(), cps.size(), &m);
  std::vector<std::string> out;
  for (auto [b, e] : m) out.push_back(text.substr(offs[b], offs[e] - offs[b]));
  return out;
}

}  // namespace

TEST(HfRegex, AlternationIsOrderedNotLongest) {
  EXPECT_EQ(find("a|ab", "ab"), (Matches{{0, 1}}));
  EXPECT_EQ(find("ab|a", "ab"), (Matches{{0, 2}}));
}

TEST(HfRegex, GreedyRepeatsBacktrackIntoLookahead) {
  // The GPT-2 family's whitespace rule: a run of spaces leaves its last space to the next word.
  EXPECT_EQ(pieces("\\s+(?!\\S)|\\s+", "   x"), (std::vector<std::string>{"  ", " "}));
  EXPECT_EQ(pieces("\\p{N}{1,3}", "12345 6"), (std::vector<std::string>{"123", "45", "6"}));
  EXPECT_EQ(pieces("a+?", "aaa"), (std::vector<std::string>{"a", "a", "a"}));
  EXPECT_EQ(pieces("x(?=y)", "xxy"), (std::vector<std::string>{"x"}));
  EXPECT_EQ(find("^a|b$", "aab"), (Matches{{0, 1}, {2, 3}}));
}

TEST(HfRegex, EmptyMatchesAreReportedAndSkipped) {
  EXPECT_EQ(find("x*", "ab"), (Matches{{0, 0}, {1, 1}, {2, 2}}));
  EXPECT_EQ(find("(?:ab)?", "abc"), (Matches{{0, 2}, {2, 2}, {3, 3}}));
}

TEST(HfRegex, CaseInsensitiveGroupFoldsAscii) {
  EXPECT_EQ(pieces("(?i:'s|'t|'re)", "IT'S we'Re don't"), (std::vector<std::string>{"'S", "'Re", "'t"}));
}

TEST(HfRegex, UnicodeCategoriesAndJavaScriptWhitespace) {
  EXPECT_EQ(pieces("\\p{L}+", "café 中文 x1"), (std::vector<std::string>{"café", "中文", "x"}));
  EXPECT_EQ(pieces("\\p{N}", "3٣Ⅻ½"), (std::vector<std::string>{"3", "٣", "Ⅻ", "½"}));
  EXPECT_EQ(pieces("[\\p{P}\\p{S}]", "a。€+b"), (std::vector<std::string>{"。", "€", "+"}));
  EXPECT_EQ(pieces("\\p{Lu}|\\p{Letter}", "aB"), (std::vector<std::string>{"a", "B"}));
  // JavaScript's \s: Zs, U+2028/2029 and U+FEFF, but not U+0085 (NEL).
  EXPECT_EQ(find("\\s", "\xE3\x80\x80\xEF\xBB\xBF\xC2\x85\xE2\x80\xA8"), (Matches{{0, 1}, {1, 2}, {3, 4}}));
  EXPECT_EQ(pieces("[^\\s\\p{L}]+", "a.b, c!"), (std::vector<std::string>{".", ",", "!"}));
  EXPECT_EQ(pieces("\\S+", "x\xC2\xA0y z"), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(pieces("[\\u4e00-\\u9fa5]+|\\u{1F600}", "ab中文😀"), (std::vector<std::string>{"中文", "😀"}));
  EXPECT_EQ(pieces(".", "a\nb"), (std::vector<std::string>{"a", "b"}));
}

TEST(HfRegex, EscapedPunctuationInClasses) {
  EXPECT_EQ(pieces("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+", "x.abc -de [f"),
            (std::vector<std::string>{".abc", "-de", "[f"}));
  EXPECT_EQ(pieces(regex_escape("a.b*"), "a.b* axb"), (std::vector<std::string>{"a.b*"}));
}

TEST(HfRegex, RefusesWhatItDoesNotImplement) {
  expect_error<std::invalid_argument>([] { HfRegex("(?<=a)b"); }, {"(?<=a)b", "group syntax"});
  expect_error<std::invalid_argument>([] { HfRegex("(a)\\1"); }, {"backreference"});
  expect_error<std::invalid_argument>([] { HfRegex("(?:ab)+"); }, {"quantifier on a group"});
  expect_error<std::invalid_argument>([] { HfRegex("\\p{Script=Greek}"); }, {"Script=Greek"});
  expect_error<std::invalid_argument>([] { HfRegex("[z-a]"); }, {"out of order"});
  expect_error<std::invalid_argument>([] { HfRegex("\\bword"); }, {"word boundary"});
  expect_error<std::invalid_argument>([] { HfRegex("(ab"); }, {"missing ')'"});
  expect_error<std::invalid_argument>([] { HfRegex("*a"); }, {"unexpected '*'"});
}
