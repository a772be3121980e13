// config_test.cpp: presets, --set, unknown keys, strict TOML types, size bounds and validation messages that name the
// field.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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
  auto c =
      tiny_config({"moe.top_k=1", "moe.score_func=sigmoid", "moe.capacity_factor=1.25", "model.tie_embeddings=true"});
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
  expect_error([] { tiny_config({"attn.kv_lora_rank=0"}); }, {"attn.kv_lora_rank", "in [1, 65536]"});
  expect_error([] { tiny_config({"attn.qk_rope_head_dim=0"}); }, {"attn.qk_rope_head_dim"});
  expect_error([] { tiny_config({"moe.n_group=3"}); }, {"moe.n_group", "divide"});
  expect_error([] { tiny_config({"moe.n_group=2", "moe.topk_group=3"}); }, {"moe.topk_group"});
  expect_error([] { tiny_config({"moe.n_group=4", "moe.topk_group=1"}); }, {"moe.top_k", "topk_group"});
  expect_error([] { tiny_config({"attn.type=mha", "attn.n_kv_heads=3"}); }, {"attn.n_kv_heads", "divide"});
  expect_error([] { tiny_config({"moe.score_func=relu"}); }, {"moe.score_func", "softmax"});
  expect_error([] { tiny_config({"moe.capacity_factor=-1"}); }, {"moe.capacity_factor"});
  expect_error(
      [] {
        tiny_config({"moe.score_func=sigmoid", "moe.bias_on_logits=true"});
      },
      {"moe.bias_on_logits", "softmax"});
  EXPECT_TRUE(tiny_config({"moe.score_func=softmax", "moe.bias_on_logits=true"}).model.moe.bias_on_logits);
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
  EXPECT_NE(help.find("moe.top_k = 2  [in [1, 4096]]  routed experts per token"), std::string::npos) << help;
  EXPECT_NE(help.find("moe.score_func = softmax  [one of softmax, sigmoid]"), std::string::npos) << help;
  EXPECT_NE(help.find("moe.capacity_factor = 0  [>= 0 (0 = dropless)]"), std::string::npos) << help;
  // Every field has help text.
  auto t = c.fields();
  for (const auto& k : t.keys()) EXPECT_GT(std::string(t.info(k).help).size(), 3u) << k;
}

// TOML values are typed: a value of another type is refused naming the key, the type found and
// the type expected (an integer may stand for a float, nothing else converts).
TEST(Config, TomlTypesAreStrict) {
  auto load = [](const std::string& text) {
    Config c;
    c.fields().load_toml_string(text, "p.toml");
    return c;
  };
  expect_error([&] { load("[model]\nd_model = \"32\"\n"); },
               {"p.toml", "'model.d_model'", "expected an integer", "found a string (\"32\")"});
  expect_error([&] { load("[train]\nlr = \"3e-3\"\n"); }, {"'train.lr'", "expected a number", "found a string"});
  expect_error([&] { load("[moe]\nbias_balance = \"true\"\n"); },
               {"'moe.bias_balance'", "expected a boolean", "found a string"});
  expect_error([&] { load("[moe]\nbias_balance = 1\n"); },
               {"'moe.bias_balance'", "expected a boolean", "found an integer (1)"});
  expect_error([&] { load("[model]\nmax_seq_len = 1e12\n"); },
               {"'model.max_seq_len'", "expected an integer", "found a float"});
  expect_error([&] { load("[train]\nbatch_size = 8.0\n"); }, {"'train.batch_size'", "found a float"});
  expect_error([&] { load("[data]\npath = 3\n"); }, {"'data.path'", "expected a string", "found an integer"});
  expect_error([&] { load("[moe]\nscore_func = true\n"); },
               {"'moe.score_func'", "expected a string", "found a boolean"});
  expect_error([&] { load("[train]\nlr = [1, 2]\n"); }, {"'train.lr'", "an array"});
  expect_error([&] { load("[train]\nlr = nan\n"); }, {"'train.lr'", "a finite number"});
  // What is right still loads; an integer where a float belongs is fine.
  Config c = load("[train]\nlr = 1\nbatch_size = 16\n[moe]\nbias_balance = false\nscore_func = \"sigmoid\"\n");
  EXPECT_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.train.batch_size, 16);
  EXPECT_FALSE(c.model.moe.bias_balance);
  EXPECT_EQ(c.model.moe.score_func, ScoreFunc::kSigmoid);
}

// --set is text: parsed strictly (a boolean is true or false, an integer has no exponent).
TEST(Config, SetValuesAreParsedStrictly) {
  expect_error([] { tiny_config({"moe.bias_balance=1"}); }, {"moe.bias_balance", "boolean"});
  expect_error([] { tiny_config({"model.max_seq_len=1e12"}); }, {"model.max_seq_len", "integer"});
  expect_error([] { tiny_config({"train.lr=3e-3x"}); }, {"train.lr", "number"});
  EXPECT_FALSE(tiny_config({"moe.bias_balance=false"}).model.moe.bias_balance);
}

// --config must name a regular file: a directory used to train with all defaults, a FIFO to hang.
TEST(Config, ConfigFileMustBeARegularFile) {
  const auto dir = std::filesystem::temp_directory_path() / ("moescope-cfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  expect_error([&] { load_config(dir.string()); }, {dir.c_str(), "is a directory", "not a regular file"});
  const std::string fifo = (dir / "p.toml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { load_config(fifo); }, {fifo.c_str(), "FIFO", "not a regular file"});
  expect_error([&] { load_config((dir / "missing.toml").string()); }, {"missing.toml", "not found"});
  std::ofstream((dir / "big.toml").string()) << std::string(kMaxConfigBytes + 1, '#');
  expect_error([&] { load_config((dir / "big.toml").string()); }, {"big.toml", "limit"});
  std::filesystem::remove_all(dir);
}

// Every size key has an upper bound in its field list: no segfault or allocator error later.
TEST(Config, SizeKeysHaveUpperBounds) {
  expect_error([] { tiny_config({"model.n_layers=100000000"}); }, {"model.n_layers", "in [1, 1024]"});
  expect_error([] { tiny_config({"model.d_model=1000000"}); }, {"model.d_model", "in [1, 65536]"});
  expect_error([] { tiny_config({"attn.n_heads=100000"}); }, {"attn.n_heads"});
  expect_error([] { tiny_config({"moe.expert_hidden=100000000"}); }, {"moe.expert_hidden"});
  expect_error([] { tiny_config({"moe.n_routed=100000"}); }, {"moe.n_routed"});
  expect_error([] { tiny_config({"model.max_seq_len=1000000000000"}); }, {"model.max_seq_len"});
  expect_error([] { tiny_config({"train.batch_size=1000000000000"}); }, {"train.batch_size"});
  expect_error([] { tiny_config({"model.vocab_size=100000000"}); }, {"model.vocab_size"});
}
