// hf_bridge_test.cpp: the Hugging Face tokenizer through data's Tokenizer interface (the factory
// builds and loads it, save/load keeps its fingerprint and BOS) and char/byte tokenizers as
// tokenizer.json (data/hf_bridge.h).
#include "data/hf_bridge.h"

#include "../hf/hf_test_util.h"

using namespace moescope;
using moescope::testing::expect_error;
using moescope::testing::spm_tokenizer;
using moescope::testing::TempDir;
using moescope::testing::write_tokenizer;
using nlohmann::json;

TEST(HfBridge, FactoryBuildsSavesAndLoadsTheHfTokenizer) {
  TempDir src, run;
  auto tok = build_tokenizer(
      "hf:" + write_tokenizer(src, spm_tokenizer(), json{{"add_bos_token", true}, {"bos_token", "<s>"}}), "", 0, "");
  EXPECT_EQ(tok->kind(), "hf");
  EXPECT_EQ(tok->vocab_size(), 12);
  tok->save(run.path());
  auto back = load_tokenizer(run.path());
  EXPECT_EQ(back->kind(), "hf");
  EXPECT_EQ(back->fingerprint(), tok->fingerprint());
  EXPECT_EQ(back->encode("abc ab"), tok->encode("abc ab"));
  ASSERT_NE(as_hf_tokenizer(*back), nullptr);
  EXPECT_EQ(as_hf_tokenizer(*back)->bos_id(), 10);
  EXPECT_EQ(as_hf_tokenizer(ByteTokenizer()), nullptr);
}

TEST(HfBridge, FactoryErrors) {
  TempDir dir;
  const std::string full = spm_tokenizer().dump();
  write_file_atomic(dir.file("tokenizer.json"), full.substr(0, full.size() / 2));
  expect_error<std::runtime_error>([&] { load_tokenizer(dir.path()); }, {"not valid JSON"});
  expect_error<std::invalid_argument>([] { build_tokenizer("wordpiece", "", 0, ""); }, {"hf:PATH"});
}

TEST(HfBridge, CharAndByteTokenizersTranslateBpeDoesNot) {
  std::string why;
  auto byte = hf_tokenizer_json(ByteTokenizer(), &why);
  ASSERT_TRUE(byte.has_value());
  EXPECT_EQ((*byte)["model"]["vocab"].size(), 256u);
  EXPECT_EQ((*byte)["pre_tokenizer"]["type"], "ByteLevel");
  auto chars = hf_tokenizer_json(CharTokenizer({'b', 'a', 0xE9}), &why);
  ASSERT_TRUE(chars.has_value());
  EXPECT_EQ((*chars)["model"]["vocab"]["a"], 1);  // sorted code points from id 1
  EXPECT_EQ((*chars)["model"]["vocab"]["\xC3\xA9"], 3);
  EXPECT_EQ((*chars)["model"]["vocab"]["\xEF\xBF\xBD"], 0);  // the unknown character
  EXPECT_FALSE(hf_tokenizer_json(CharTokenizer({'a', 0xFFFD}), &why).has_value());
  EXPECT_NE(why.find("U+FFFD"), std::string::npos);
}
