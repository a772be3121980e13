// compressed_run_test.cpp: the compressed-run format (round trip, version check), composing the
// banks into a model, the parameter budget, the bad inputs (ratios, dense models, NaN weights),
// and the summary record `scope` reads (mis-typed fields named with file:line).
#include <gtest/gtest.h>

#include "compress/compressed_run.h"
#include "compress/compressor.h"
#include "compress/compress_summary.h"
#include "io/atomic_file.h"
#include "../io/io_test_util.h"
#include "../test_util.h"

using namespace moescope;
using namespace moescope::compress;
using moescope::testing::expect_error;

namespace {
BasisGroup small_group(const std::string& name, int64_t layer, const std::string& fam, int64_t E, int64_t P,
                       int64_t D) {
  BasisGroup g;
  g.name = name, g.layer = layer, g.family = fam, g.f = Activation::kSilu;
  g.A_EPR = torch::randn({E, P, 3});
  g.B_MRD = torch::randn({2, 3, D});
  g.logits_EM = torch::randn({E, 2});
  g.mean_E = torch::randn({E});
  for (int64_t e = 0; e < E; ++e) g.expert_layer.push_back(layer), g.expert_index.push_back(e);
  return g;
}
}  // namespace

TEST(CompressedRun, RecordsRoundTripThroughSafetensors) {
  std::vector<BasisGroup> gs{small_group("layer1.gate", 1, "gate", 4, 16, 32),
                             small_group("layer1.up", 1, "up", 4, 16, 32)};
  auto bytes = encode_safetensors(basis_records(gs), basis_metadata(gs));
  auto back = read_basis_groups(decode_safetensors(bytes, "mem"));
  ASSERT_EQ(back.size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(back[k].name, gs[k].name);
    EXPECT_EQ(back[k].family, gs[k].family);
    EXPECT_EQ(back[k].layer, 1);
    EXPECT_EQ(back[k].f, Activation::kSilu);
    EXPECT_EQ(back[k].expert_index, gs[k].expert_index);
    EXPECT_TRUE(torch::equal(compose_group(back[k]), compose_group(gs[k])));
  }
  auto meta = basis_metadata(gs);
  meta["moescope.compressed_version"] = "7";
  expect_error<std::runtime_error>(
      [&] { read_basis_groups(decode_safetensors(encode_safetensors(basis_records(gs), meta), "f")); },
      {"version 7", "re-run `moescope compress`"});
}

TEST(CompressedRun, ComposeIntoWritesEveryFactorisedExpert) {
  Config c = moescope::testing::tiny_config();  // layer 1 is MoE: 4 experts of 16 x 32
  Transformer m(c.model);
  std::vector<BasisGroup> gs{small_group("layer1.up", 1, "up", 4, 16, 32)};
  auto gate_before = m->layers[1]->as<BlockImpl>()->moe->experts[2]->as<SwiGLUMlpImpl>()->gate_proj->weight.clone();
  compose_into(*m, gs);
  auto W = compose_group(gs[0]);
  for (int64_t e = 0; e < 4; ++e) {
    auto* mlp = m->layers[1]->as<BlockImpl>()->moe->experts[e]->as<SwiGLUMlpImpl>();
    EXPECT_TRUE(torch::equal(mlp->up_proj->weight, W[e]));
  }
  EXPECT_TRUE(torch::equal(m->layers[1]->as<BlockImpl>()->moe->experts[2]->as<SwiGLUMlpImpl>()->gate_proj->weight,
                           gate_before));
  EXPECT_EQ(factorised_names(gs)[3], "model.layers.1.mlp.experts.3.up_proj.weight");
  gs[0].expert_layer[0] = 0;  // layer 0 is dense
  expect_error<std::runtime_error>([&] { compose_into(*m, gs); }, {"not a MoE layer"});
}

TEST(Compressor, BudgetArithmetic) {
  Config c = moescope::testing::tiny_config();
  Transformer m(c.model);
  CompressConfig cc;
  cc.rank_ratio = 0.5;   // r = 8 of P = 16
  cc.basis_ratio = 0.5;  // m = 2 of E = 4
  auto s = plan_sizes(*m, cc);
  ASSERT_EQ(s.groups.size(), 2u);
  EXPECT_EQ(s.groups[0].R, 8);
  EXPECT_EQ(s.groups[0].M, 2);
  EXPECT_EQ(s.groups[0].before, 4 * 16 * 32);
  EXPECT_EQ(s.groups[0].after, 4 * 16 * 8 + 2 * 8 * 32 + 4 * 2 + 4);
  EXPECT_EQ(s.expert_before, 4 * 3 * 16 * 32);
  EXPECT_EQ(s.expert_before - s.expert_after, 2 * (s.groups[0].before - s.groups[0].after));
  EXPECT_EQ(s.model_before - s.model_after, s.expert_before - s.expert_after);
  EXPECT_NEAR(s.expert_rate(), 1.0 - double(s.expert_after) / s.expert_before, 1e-12);
  cc.scope = BankScope::kGlobal;
  EXPECT_EQ(plan_sizes(*m, cc).groups[0].group, "global.gate");
  cc.rank = 17;
  expect_error<std::invalid_argument>([&] { plan_sizes(*m, cc); }, {"compress.rank = 17", "16"});
}

TEST(Compressor, BadInputsGiveClearErrors) {
  CompressConfig cc;
  cc.rank_ratio = 1.5;
  expect_error<std::invalid_argument>([&] { cc.validate(); }, {"compress.rank_ratio", "1.5", "(0, 1]"});
  cc = CompressConfig{};
  cc.basis_ratio = 0;
  expect_error<std::invalid_argument>([&] { cc.validate(); }, {"compress.basis_ratio"});
  cc = CompressConfig{};
  cc.families = "gate,down";
  expect_error<std::invalid_argument>([&] { cc.validate(); }, {"compress.families", "down"});
  expect_error<std::invalid_argument>([] { moescope::testing::tiny_config({"compress.solver=newton"}); },
                                      {"compress.solver", "newton"});

  Transformer dense(moescope::testing::tiny_config({"model.ffn=dense"}).model);
  expect_error<std::invalid_argument>([&] { check_compressible(*dense); }, {"no MoE layers"});

  Transformer m(moescope::testing::tiny_config().model);
  {
    torch::NoGradGuard ng;
    m->layers[1]->as<BlockImpl>()->moe->experts[3]->as<SwiGLUMlpImpl>()->up_proj->weight[0][0] = NAN;
  }
  expect_error<std::invalid_argument>([&] { plan_sizes(*m, CompressConfig{}); },
                                      {"layers.1.mlp.experts.3.up_proj.weight", "NaN"});
}

TEST(Compressor, CompressModelLogsEveryIterationAndReducesError) {
  Config c = moescope::testing::tiny_config();
  Transformer m(c.model);
  CompressConfig cc;
  cc.max_iters = 5;
  cc.plateau_iters = 0;
  std::ostringstream log;
  auto out = compress_model(*m, cc, nullptr, log);
  ASSERT_EQ(out.groups.size(), 2u);
  EXPECT_EQ(out.groups[0].name, "layer1.gate");
  EXPECT_EQ(out.groups[0].R(), 12);  // round(0.75 * 16)
  EXPECT_EQ(out.summary["type"], "compress_summary");
  EXPECT_EQ(out.summary["schema"], 1);
  EXPECT_EQ(out.summary["iterations"], 5);
  EXPECT_TRUE(out.summary.contains("expert_compression_rate"));
  EXPECT_TRUE(out.summary.contains("wall_s"));
  // The folded factors reproduce the weights to the reported error.
  auto W = compose_group(out.groups[0]);
  auto* e0 = m->layers[1]->as<BlockImpl>()->moe->experts[0]->as<SwiGLUMlpImpl>();
  EXPECT_EQ(W[0].sizes(), e0->gate_proj->weight.sizes());
  torch::Tensor Wtrue =
      torch::stack({e0->gate_proj->weight.detach(),
                    m->layers[1]->as<BlockImpl>()->moe->experts[1]->as<SwiGLUMlpImpl>()->gate_proj->weight.detach(),
                    m->layers[1]->as<BlockImpl>()->moe->experts[2]->as<SwiGLUMlpImpl>()->gate_proj->weight.detach(),
                    m->layers[1]->as<BlockImpl>()->moe->experts[3]->as<SwiGLUMlpImpl>()->gate_proj->weight.detach()});
  const double rel = ((W - Wtrue).norm() / Wtrue.norm()).item<double>();
  EXPECT_NEAR(rel, out.summary["groups"][0]["rel_error"].get<double>(), 1e-4);
}

// Issue 13: `scope` of a compressed run printed nlohmann's bare type_error for a mis-typed
// summary field; the error names the file, line, field and type.
TEST(CompressSummary, MisTypedFieldsAreNamed) {
  moescope::testing::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_file_atomic(path,
                    "{\"type\":\"compress\",\"step\":1}\n"
                    "{\"type\":\"compress_summary\",\"solver\":7,\"banks\":[],\"groups\":[]}\n");
  expect_error<std::runtime_error>([&] { read_compress_summary(path); },
                                   {path + ":2: field 'solver' must be a string, got number 7"});
  write_file_atomic(path, "{\"type\":\"compress_summary\",\"banks\":\"none\",\"groups\":[]}\n");
  expect_error<std::runtime_error>([&] { read_compress_summary(path); },
                                   {path + ":1: field 'banks' must be an array, got string"});
  write_file_atomic(path,
                    "{\"type\":\"compress_summary\",\"banks\":[{\"group\":\"g\",\"rank\":2,\"bases\":1}],\"groups\":[{"
                    "\"group\":\"g\"}]}\n");
  EXPECT_NE(render_compress_summary(read_compress_summary(path)).find("g "), std::string::npos);
}
