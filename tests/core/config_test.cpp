// config_test.cpp: presets, --set, unknown keys and validation messages that name the field.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "core/config.h"

using namespace moescope;
using moescope::testing::tiny_config;

namespace {
// Expects `fn` to throw std::invalid_argument whose message contains every `needle`.
template <class Fn>
void expect_error(Fn fn, std::initializer_list<const char*> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected an error mentioning " << *needles.begin();
  } catch (const std::invalid_argument& e) {
    for (auto n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Config, TinyPresetLoadsAndValidates) {
  auto c = tiny_config();
  EXPECT_EQ(c.model.attn.type, AttnType::kMla);
  EXPECT_EQ(c.model.moe.n_routed, 4);
  EXPECT_EQ(c.model.n_moe_layers(), 1);
}

TEST(Config, SetOverridesTypedValues) {
  auto c = tiny_config({"moe.top_k=1", "moe.score_func=sigmoid", "moe.capacity_factor=1.25", "model.tie_embeddings=true"});
  EXPECT_EQ(c.model.moe.top_k, 1);
  EXPECT_EQ(c.model.moe.score_func, ScoreFunc::kSigmoid);
  EXPECT_DOUBLE_EQ(c.model.moe.capacity_factor, 1.25);
  EXPECT_TRUE(c.model.tie_embeddings);
}

TEST(Config, UnknownSetKeyIsNamedWithHint) {
  expect_error([] { tiny_config({"moe.topk=3"}); }, {"moe.topk", "did you mean 'moe.top_k'"});
}

TEST(Config, UnknownTomlKeyIsNamed) {
  Config c;
  auto t = c.fields();
  expect_error([&] { t.load_toml_string("[moe]\nn_routd = 3\n", "x.toml"); }, {"moe.n_routd", "x.toml"});
}

TEST(Config, BadValueTypesAreNamed) {
  expect_error([] { tiny_config({"moe.top_k=abc"}); }, {"moe.top_k", "integer"});
  expect_error([] { tiny_config({"moe.bias_balance=maybe"}); }, {"moe.bias_balance", "boolean"});
  expect_error([] { tiny_config({"moe.top_k"}); }, {"key=value"});
}

TEST(Config, ValidationNamesTheField) {
  expect_error([] { tiny_config({"moe.top_k=5"}); }, {"moe.top_k", "5", "moe.n_routed"});
  expect_error([] { tiny_config({"attn.kv_lora_rank=0"}); }, {"attn.kv_lora_rank", "> 0"});
  expect_error([] { tiny_config({"attn.qk_rope_head_dim=0"}); }, {"attn.qk_rope_head_dim"});
  expect_error([] { tiny_config({"moe.n_group=3"}); }, {"moe.n_group", "divide"});
  expect_error([] { tiny_config({"moe.n_group=2", "moe.topk_group=3"}); }, {"moe.topk_group"});
  expect_error([] { tiny_config({"moe.n_group=4", "moe.topk_group=1"}); }, {"moe.top_k", "topk_group"});
  expect_error([] { tiny_config({"attn.type=mha", "attn.n_kv_heads=3"}); }, {"attn.n_kv_heads", "divide"});
  expect_error([] { tiny_config({"moe.score_func=relu"}); }, {"moe.score_func", "softmax"});
  expect_error([] { tiny_config({"moe.capacity_factor=-1"}); }, {"moe.capacity_factor"});
  expect_error([] { tiny_config({"moe.jitter=input", "moe.jitter_eps=1.5"}); }, {"moe.jitter_eps"});
  expect_error([] { tiny_config({"moe.drop_policy=random"}); }, {"moe.drop_policy"});
}

TEST(Config, JsonRoundTripIsExact) {
  auto c = tiny_config({"moe.bias_update_rate=0.05"});
  auto j = c.fields().to_json();
  Config d;
  d.fields().from_json(j, "config.json");
  EXPECT_EQ(d.fields().to_json(), j);
  EXPECT_DOUBLE_EQ(d.model.moe.bias_update_rate, 0.05);
  auto bad = j;
  bad["moe"]["mystery"] = 1;
  expect_error([&] { d.fields().from_json(bad, "config.json"); }, {"moe.mystery", "config.json"});
}

TEST(Config, EveryPresetLoadsAndValidates) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(moescope::testing::source_path("configs"))) {
    if (e.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(load_config(e.path().string())) << e.path();
    ++n;
  }
  EXPECT_GE(n, 6);
}

TEST(Config, EnumsParseOnceWithTheChoicesInTheError) {
  auto c = tiny_config({"moe.drop_policy=position", "attn.type=mha", "attn.n_heads=4", "train.dtype=fp32"});
  EXPECT_EQ(c.model.moe.drop_policy, DropPolicy::kPosition);
  EXPECT_EQ(c.model.attn.type, AttnType::kMha);
  EXPECT_EQ(c.train.dtype, DType::kFp32);
  EXPECT_EQ(c.fields().to_json()["moe"]["drop_policy"], "position");  // config.json keeps the spelling
  expect_error([] { tiny_config({"train.dtype=fp16"}); }, {"train.dtype", "'fp16'", "auto, bf16, fp32"});
  expect_error([] { tiny_config({"compress.init=qr"}); }, {"compress.init", "svd, pca, random"});
}

TEST(Config, RangesComeFromTheFieldListWithTheirNotes) {
  expect_error([] { tiny_config({"data.bpe_vocab_size=10"}); }, {"data.bpe_vocab_size = 10", "in [64, 1000000]"});
  expect_error([] { tiny_config({"train.grad_clip=-1"}); }, {"train.grad_clip", ">= 0 (0 = off)"});
  expect_error([] { tiny_config({"scope.max_share=0"}); }, {"scope.max_share", "in (0, 1]"});
  expect_error([] { tiny_config({"compress.temperature_step=1"}); }, {"compress.temperature_step", "> 1"});
}

TEST(Config, HelpListsEveryKeyWithDefaultAllowedValuesAndHelp) {
  const std::string help = config_help();
  Config c;
  for (const auto& k : c.fields().keys()) EXPECT_NE(help.find("  " + k + " = "), std::string::npos) << k;
  EXPECT_NE(help.find("moe.top_k = 2  [> 0]  routed experts per token"), std::string::npos) << help;
  EXPECT_NE(help.find("moe.score_func = softmax  [one of softmax, sigmoid]"), std::string::npos) << help;
  EXPECT_NE(help.find("moe.capacity_factor = 0  [>= 0 (0 = dropless)]"), std::string::npos) << help;
  // Every field has help text.
  auto t = c.fields();
  for (const auto& k : t.keys()) EXPECT_GT(std::string(t.info(k).help).size(), 3u) << k;
}
