// tokenizer_test.cpp: the Hugging Face tokenizer on small hand-made tokenizer.json files:
// BPE merges, byte fallback, fuse_unk, added tokens with lstrip/rstrip, BOS/EOS, save/load,
// the fingerprint, and clear errors for bad files (through the Tokenizer interface:
// tests/data/hf_bridge_test.cpp).
#include "hf/tokenizer.h"

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "hf_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::TempDir;
using nlohmann::json;

namespace {

using moescope::testing::kU;
using moescope::testing::spm_tokenizer;
using moescope::testing::write_tokenizer;

// Loading `j` fails with a std::runtime_error naming the file and every needle.
void expect_load_error(const json& j, std::initializer_list<std::string> needles) {
  TempDir dir;
  const std::string path = write_tokenizer(dir, j);
  expect_error<std::runtime_error>([&] { HfTokenizer::load(path); }, needles);
  expect_error<std::runtime_error>([&] { HfTokenizer::load(path); }, {path});
}

}  // namespace

TEST(HfTokenizer, MergesByRankThenByteFallbackThenUnknown) {
  TempDir dir;
  auto tok = HfTokenizer::load(write_tokenizer(dir, spm_tokenizer()));
  EXPECT_EQ(tok->vocab_size(), 12);
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{6, 5}));          // a+b, then ab+c; U+2581+ab never applies
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{7}));              // a+b, then U+2581+ab
  EXPECT_EQ(tok->encode("\xC3\xA9"), (std::vector<int32_t>{6, 8, 9}));  // é via its bytes
  EXPECT_EQ(tok->encode("dd"), (std::vector<int32_t>{6, 0}));           // no byte tokens: <unk>, fused
  EXPECT_EQ(tok->decode({6, 8, 9, 6, 5}), "\xC3\xA9 abc");
  EXPECT_EQ(tok->decode(tok->encode("ab abc")), "ab abc");
  expect_error<std::invalid_argument>([&] { tok->decode({12}); }, {"id 12", "outside [0, 12)"});
}

TEST(HfTokenizer, AddedTokensAreSplitOutFirstWithStrip) {
  TempDir dir;
  auto tok = HfTokenizer::load(write_tokenizer(dir, spm_tokenizer()));
  EXPECT_EQ(tok->encode("ab [SEP] c"), (std::vector<int32_t>{7, 11, 6, 4}));  // spaces around [SEP] stripped
  EXPECT_EQ(tok->encode("<s>ab"), (std::vector<int32_t>{10, 7}));
  EXPECT_EQ(tok->encode("<s"), (std::vector<int32_t>{6, 0}));
  EXPECT_FALSE(tok->bos_id().has_value());  // no config, no template
}

TEST(HfTokenizer, BosEosFromConfigOrTemplate) {
  TempDir dir;
  json j = spm_tokenizer();
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}}}}}}};
  auto tok = HfTokenizer::load(write_tokenizer(dir, j));
  EXPECT_EQ(tok->encode_with_special("ab"), (std::vector<int32_t>{10, 7}));
  write_tokenizer(dir, j, json{{"add_bos_token", false}, {"add_eos_token", true}, {"eos_token", "[SEP]"}});
  tok = HfTokenizer::load(dir.path());
  EXPECT_EQ(tok->encode_with_special("ab"), (std::vector<int32_t>{7, 11}));
  write_tokenizer(dir, j,
                  json{{"add_bos_token", true}, {"bos_token", {{"__type", "AddedToken"}, {"content", "<nope>"}}}});
  expect_error<std::runtime_error>([&] { HfTokenizer::load(dir.path()); }, {"bos_token", "'<nope>'"});
}

TEST(HfTokenizer, SavesLoadsAndFingerprintsTheFile) {
  TempDir src, run;
  auto tok =
      HfTokenizer::load(write_tokenizer(src, spm_tokenizer(), json{{"add_bos_token", true}, {"bos_token", "<s>"}}));
  tok->save(run.path());
  auto back = HfTokenizer::load(run.path());
  EXPECT_EQ(back->fingerprint(), tok->fingerprint());
  EXPECT_EQ(back->encode("abc ab"), tok->encode("abc ab"));
  EXPECT_EQ(back->bos_id(), 10);
  // Any change to the files changes the fingerprint, so token caches re-tokenise.
  json j = spm_tokenizer();
  j["model"]["vocab"]["zz"] = 12;
  auto changed = HfTokenizer::load(write_tokenizer(src, j, json{{"add_bos_token", true}, {"bos_token", "<s>"}}));
  EXPECT_NE(changed->fingerprint(), tok->fingerprint());
  auto config_changed = HfTokenizer::load(write_tokenizer(src, spm_tokenizer(), json{{"add_bos_token", false}}));
  EXPECT_NE(config_changed->fingerprint(), tok->fingerprint());
}

TEST(HfTokenizer, ByteLevelRoundTripsAnyText) {
  TempDir dir;
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    static int extra = 0;
    if (b == 0) extra = 0;
    const uint32_t cp = printable ? b : 256 + extra++;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | cp >> 6), s += char(0x80 | (cp & 0x3F));
    vocab[s] = b;
  }
  json j = {{"added_tokens", json::array()},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
  auto tok = HfTokenizer::load(write_tokenizer(dir, j));
  const std::string text = "Grüße, 世界! 🎉\n\ttabs  and   spaces";
  const auto ids = tok->encode(text);
  EXPECT_EQ(ids.size(), text.size());  // no merges: one token per byte
  EXPECT_EQ(ids[0], 'G');
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->decode(tok->encode("bad \xFF byte")), "bad \xEF\xBF\xBD byte");  // invalid UTF-8 -> U+FFFD
}

TEST(HfTokenizerErrors, TruncatedJson) {
  TempDir dir;
  const std::string full = spm_tokenizer().dump();
  write_file_atomic(dir.file("tokenizer.json"), full.substr(0, full.size() / 2));
  expect_error<std::runtime_error>([&] { HfTokenizer::load(dir.path()); },
                                   {dir.file("tokenizer.json"), "not valid JSON", "truncated"});
}

TEST(HfTokenizerErrors, MissingFile) {
  TempDir dir;
  expect_error<std::runtime_error>([&] { HfTokenizer::load(dir.path()); }, {"tokenizer.json not found"});
}

TEST(HfTokenizerErrors, UnknownModelType) {
  json j = spm_tokenizer();
  j["model"]["type"] = "Unigram";
  expect_load_error(j, {"model.type", "unsupported model type 'Unigram'"});
}

TEST(HfTokenizerErrors, UnknownPreTokenizer) {
  json j = spm_tokenizer();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "BertPreTokenizer"}}}}};
  expect_load_error(j, {"pre_tokenizer.pretokenizers[1]", "unsupported pre-tokenizer type 'BertPreTokenizer'"});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(?<=x)y"}}}, {"behavior", "Isolated"}};
  expect_load_error(j, {"pre_tokenizer.pattern", "(?<=x)y"});
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "MergedWithNext"}};
  expect_load_error(j, {"pre_tokenizer.behavior", "'MergedWithNext'"});
}

TEST(HfTokenizerErrors, UnknownNormalizer) {
  json j = spm_tokenizer();
  j["normalizer"]["normalizers"].push_back({{"type", "Lowercase"}});
  expect_load_error(j, {"normalizer.normalizers[2]", "unsupported normalizer type 'Lowercase'"});
  j["normalizer"] = {{"type", "NFKC"}};
  expect_load_error(j, {"normalizer", "'NFKC'"});
}

TEST(HfTokenizerErrors, UnknownDecoder) {
  json j = spm_tokenizer();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_load_error(j, {"decoder", "unsupported decoder type 'WordPiece'"});
}

TEST(HfTokenizerErrors, MergeNamingAMissingToken) {
  json j = spm_tokenizer();
  j["model"]["merges"].push_back("a zz");
  expect_load_error(j, {"model.merges[3]", "names token 'zz'", "not in the vocabulary"});
  j = spm_tokenizer();
  j["model"]["merges"].push_back({"b", "c"});
  expect_load_error(j, {"model.merges[3]", "makes token 'bc'"});
  j = spm_tokenizer();
  j["model"]["merges"].push_back(7);
  expect_load_error(j, {"model.merges[3]", "expected"});
}

TEST(HfTokenizerErrors, MalformedFields) {
  json j = spm_tokenizer();
  j["model"].erase("vocab");
  expect_load_error(j, {"model", "missing field \"vocab\""});
  j = spm_tokenizer();
  j["model"]["unk_token"] = "<missing>";
  expect_load_error(j, {"model.unk_token", "'<missing>'"});
  j = spm_tokenizer();
  j["added_tokens"][0]["id"] = -3;
  expect_load_error(j, {"added_tokens[0].id"});
}

TEST(HfTokenizer, IdsFarPastTheVocabularyAreRefusedNotAllocated) {
  // Found by the fuzz target (tests/fuzz): an id of 2^31-1 sized a table of 2^31 strings
  // (std::bad_alloc); a number past double range escaped as nlohmann's out_of_range.
  json j = spm_tokenizer();
  j["model"]["vocab"]["c"] = 2147483647;
  expect_load_error(j, {"far past the 10 tokens of the vocabulary"});
  j = spm_tokenizer();
  j["added_tokens"][0]["id"] = 70000;
  expect_load_error(j, {"far past the vocabulary"});
  TempDir dir;
  write_file_atomic(dir.file("tokenizer.json"), "{\"model\": {\"vocab\": {\"a\": 1e999}}}");
  expect_error<std::runtime_error>([&] { HfTokenizer::load(dir.file("tokenizer.json")); }, {"not valid JSON", "1e999"});
}
