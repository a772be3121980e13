// model_dir_compress_test.cpp: `compress --model` on the Hugging Face fixtures (every
// architecture): the written directory loads and its logits equal those of the original model
// with each factorised expert replaced by W = mean + A f(softmax(logits) B) computed here with
// explicit loops from the written factor tensors; the streamed result equals compress_model's in
// memory; one bank's experts are read, then solved, then the next; the disk-size report; and
// the bad inputs, each with the error that names it.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "compress/compressed_run.h"
#include "compress/compressor.h"
#include "compress/mobe_dir.h"
#include "compress/routing_weights.h"
#include "compress/model_dir_compress.h"
#include "io/atomic_file.h"
#include "io/remove_tree.h"
#include "io/safetensors.h"
#include "model/tensor_io.h"
#include "hf/config_import.h"
#include "test_paths.h"
#include "train/hf_model_dir.h"

using namespace moescope;
using namespace moescope::compress;
using moescope::testing::source_path;
namespace fs = std::filesystem;

namespace {

struct Scratch {
  fs::path root;
  explicit Scratch(const std::string& name) {
    root = fs::temp_directory_path() / ("moescope-test-mdc-" + name + "-" + std::to_string(::getpid()));
    remove_tree(root.string());
    fs::create_directories(root);
  }
  ~Scratch() { remove_tree_nothrow(root.string()); }
  std::string path(const std::string& n) const { return (root / n).string(); }
};

std::string fixture(const std::string& arch) { return source_path("tests/fixtures/hf/" + arch); }

CompressConfig small_config(Activation f = Activation::kIdentity) {
  CompressConfig c;
  c.rank = 4;
  c.n_bases = 3;
  c.max_iters = 3;
  c.plateau_iters = 0;
  c.activation = f;
  return c;
}

double f_of(Activation f, double x) {
  switch (f) {
    case Activation::kIdentity: return x;
    case Activation::kTanh: return std::tanh(x);
    case Activation::kSilu: return x / (1.0 + std::exp(-x));
  }
  return x;
}

// The naive reference: every factorised expert's matrix from one factor file's tensors.
// Returns (layer, expert, family) -> W [P, D] (double).
struct Composed {
  int64_t layer, expert;
  std::string family;
  at::Tensor W;
};
std::vector<Composed> compose_from_file(const std::string& path, Activation f) {
  const SafetensorsFile file = load_safetensors(path);
  std::stringstream ss(file.metadata.at("mobe.groups"));
  std::vector<Composed> out;
  std::string bank;
  while (std::getline(ss, bank, ',')) {
    const std::string p = "mobe." + bank + ".";
    auto A = from_record(file.at(p + "A")).to(torch::kDouble);
    auto B = from_record(file.at(p + "B")).to(torch::kDouble);
    auto L = from_record(file.at(p + "alpha_logits")).to(torch::kDouble);
    auto mean = from_record(file.at(p + "mean")).to(torch::kDouble);
    auto ex = from_record(file.at(p + "experts"));
    const int64_t E = A.size(0), P = A.size(1), R = A.size(2), M = B.size(0), D = B.size(2);
    auto a = A.accessor<double, 3>();
    auto b = B.accessor<double, 3>();
    auto l = L.accessor<double, 2>();
    for (int64_t e = 0; e < E; ++e) {
      double mx = -1e300, z = 0;
      for (int64_t m = 0; m < M; ++m) mx = std::max(mx, l[e][m]);
      std::vector<double> alpha(M);
      for (int64_t m = 0; m < M; ++m) z += (alpha[m] = std::exp(l[e][m] - mx));
      for (auto& v : alpha) v /= z;
      std::vector<double> C(R * D);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t d = 0; d < D; ++d) {
          double pre = 0;
          for (int64_t m = 0; m < M; ++m) pre += alpha[m] * b[m][r][d];
          C[r * D + d] = f_of(f, pre);
        }
      auto W = torch::empty({P, D}, torch::kDouble);
      auto w = W.accessor<double, 2>();
      for (int64_t pp = 0; pp < P; ++pp)
        for (int64_t d = 0; d < D; ++d) {
          double s = mean[e].item<double>();
          for (int64_t r = 0; r < R; ++r) s += a[e][pp][r] * C[r * D + d];
          w[pp][d] = s;
        }
      out.push_back({ex[e][0].item<int64_t>(), ex[e][1].item<int64_t>(), file.metadata.at(p + "family"), W});
    }
  }
  return out;
}

LoadedRun load_compressed(const std::string& dir) {
  const HfLoadOverlay ov = mobe_load(dir);
  std::ostringstream log;
  return load_model_dir(dir, "cpu", log, HfWeights::kCopy, &ov);
}

at::Tensor logits_of(LoadedRun& r, const at::Tensor& tokens) {
  torch::NoGradGuard ng;
  return r.model->forward(tokens).logits_BSV.to(torch::kDouble);
}

uint64_t files_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (fs::is_regular_file(e.path())) n += fs::file_size(e.path());
  return n;
}

struct Case {
  std::string arch;
  Activation f;
  BankScope scope;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, LoadsAndMatchesTheNaiveComposition) {
  const Case c = GetParam();
  Scratch s("rt-" + c.arch);
  const std::string out = s.path("out");
  CompressConfig cfg = small_config(c.f);
  cfg.scope = c.scope;
  std::ostringstream log;
  const auto summary = compress_model_dir(fixture(c.arch), out, cfg, log);
  ASSERT_TRUE(is_mobe_model_dir(out));
  EXPECT_TRUE(fs::exists(fs::path(out) / "tokenizer.json"));

  // The original, with every factorised expert replaced by the reference composition.
  std::ostringstream l2;
  LoadedRun ref = load_model_dir(fixture(c.arch), "cpu", l2);
  const auto tokens = torch::randint(0, ref.cfg.model.vocab_size, {2, 9}, torch::kLong);
  const auto original = logits_of(ref, tokens);
  const auto entry = read_mobe_entry(out);
  int64_t replaced = 0;
  {
    torch::NoGradGuard ng;
    for (const auto& file : entry["files"])
      for (auto& x : compose_from_file((fs::path(out) / file.get<std::string>()).string(), c.f)) {
        auto* mlp = ref.model->layers[x.layer]->as<BlockImpl>()->moe->experts[x.expert]->as<SwiGLUMlpImpl>();
        (x.family == "gate" ? mlp->gate_proj : mlp->up_proj)->weight.copy_(x.W.to(torch::kFloat));
        ++replaced;
      }
  }
  EXPECT_EQ(replaced, 2 * ref.cfg.model.n_moe_layers() * ref.cfg.model.moe.n_routed);
  LoadedRun comp = load_compressed(out);
  const auto want = logits_of(ref, tokens), got = logits_of(comp, tokens);
  EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-4)) << (got - want).abs().max().item<double>();
  EXPECT_GT((got - original).abs().max().item<double>(), 1e-6);  // rank 4 < P: the experts did change

  // The size report is the files'.
  EXPECT_EQ(summary["disk_bytes_before"].get<uint64_t>(), files_bytes(fixture(c.arch)));
  EXPECT_LE(summary["disk_bytes_after"].get<uint64_t>(), files_bytes(out));
  EXPECT_GT(summary["disk_bytes_after"].get<uint64_t>(), 0u);
  EXPECT_GT(summary["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(summary["model_params_before"].get<int64_t>(), ref.model->num_params());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, RoundTrip,
                         ::testing::Values(Case{"olmoe", Activation::kIdentity, BankScope::kLayer},
                                           Case{"mixtral", Activation::kSilu, BankScope::kLayer},
                                           Case{"qwen2_moe", Activation::kTanh, BankScope::kLayer},
                                           Case{"qwen3_moe", Activation::kSilu, BankScope::kLayer},
                                           Case{"deepseek_v2", Activation::kIdentity, BankScope::kLayer},
                                           Case{"deepseek_v3", Activation::kSilu, BankScope::kLayer},
                                           Case{"olmoe", Activation::kTanh, BankScope::kGlobal}),
                         [](const auto& i) {
                           return i.param.arch + "_" + activation_name(i.param.f) + "_" + enum_name(i.param.scope);
                         });

// The streamed compression equals compress_model on the loaded model (same seeds per bank; the
// stop rules do not couple banks with plateau_iters = 0). Tolerance 1e-6 on float32 factors.
TEST(ModelDirCompress, StreamedEqualsInMemory) {
  Scratch s("eq");
  CompressConfig cfg = small_config(Activation::kSilu);
  std::ostringstream log;
  compress_model_dir(fixture("olmoe"), s.path("out"), cfg, log);
  auto streamed = read_mobe_banks(s.path("out"));
  LoadedRun run = load_model_dir(fixture("olmoe"), "cpu", log);
  auto mem = compress_model(*run.model, cfg, nullptr, log);
  ASSERT_EQ(streamed.size(), mem.groups.size());
  for (size_t k = 0; k < mem.groups.size(); ++k) {
    const auto& a = mem.groups[k];
    const auto& b = streamed[k];
    ASSERT_EQ(a.name, b.name);
    EXPECT_EQ(a.expert_layer, b.expert_layer);
    EXPECT_EQ(a.expert_index, b.expert_index);
    EXPECT_TRUE(torch::allclose(a.A_EPR, b.A_EPR, 1e-6, 1e-6)) << a.name;
    EXPECT_TRUE(torch::allclose(a.B_MRD, b.B_MRD, 1e-6, 1e-6)) << a.name;
    EXPECT_TRUE(torch::allclose(a.logits_EM, b.logits_EM, 1e-6, 1e-6)) << a.name;
    EXPECT_TRUE(torch::allclose(a.mean_E, b.mean_E, 1e-6, 1e-6)) << a.name;
  }
}

// Routing-aware (--weight-by): the streamed compression applies the same per-expert weights as
// compress_model, so the factors are equal; counts of another model are refused before OUT exists.
TEST(ModelDirCompress, WeightedStreamedEqualsInMemory) {
  Scratch s("weq");
  CompressConfig cfg = small_config(Activation::kSilu);
  cfg.weight_floor = 0.05;
  RoutingCounts counts;
  counts.run = "planted";
  counts.layers[0] = {900, 500, 40, 0, 10, 10, 300, 240};  // the olmoe fixture: 2 layers of 8 experts
  counts.layers[1] = {0, 0, 0, 1000, 1000, 5, 5, 0};
  std::ostringstream log;
  ModelDirOptions opt;
  opt.weight_by = &counts;
  const auto summary = compress_model_dir(fixture("olmoe"), s.path("out"), cfg, log, opt);
  EXPECT_EQ(summary["weighted_by"], "planted");
  for (auto& g : summary["groups"]) EXPECT_GE(g["weighted_rel_error"].get<double>(), 0.0) << g;
  auto streamed = read_mobe_banks(s.path("out"));
  LoadedRun run = load_model_dir(fixture("olmoe"), "cpu", log);
  auto mem = compress_model(*run.model, cfg, nullptr, log, {}, &counts);
  auto plain = compress_model(*run.model, small_config(Activation::kSilu), nullptr, log);
  ASSERT_EQ(streamed.size(), mem.groups.size());
  for (size_t k = 0; k < mem.groups.size(); ++k) {
    EXPECT_TRUE(torch::allclose(mem.groups[k].B_MRD, streamed[k].B_MRD, 1e-6, 1e-6)) << mem.groups[k].name;
    EXPECT_TRUE(torch::allclose(mem.groups[k].A_EPR, streamed[k].A_EPR, 1e-6, 1e-6)) << mem.groups[k].name;
    EXPECT_FALSE(torch::allclose(plain.groups[k].B_MRD, streamed[k].B_MRD, 1e-4, 1e-4)) << "weights had no effect";
  }
  RoutingCounts other = counts;
  other.layers[1].pop_back();  // 7 experts: another model
  opt.weight_by = &other;
  try {
    compress_model_dir(fixture("olmoe"), s.path("out2"), cfg, log, opt);
    ADD_FAILURE() << "counts of another model were accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("made on another model"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(s.path("out2")));
}

// One bank's experts are read, then that bank is solved, then the next: never more than one
// layer's matrices of one family at a time, each read once, down projections never.
TEST(ModelDirCompress, ReadsOneBankAtATime) {
  Scratch s("trace");
  std::vector<std::string> trace;
  ModelDirOptions opt;
  opt.trace = [&](const std::string& ev) { trace.push_back(ev); };
  std::ostringstream log;
  compress_model_dir(fixture("olmoe"), s.path("out"), small_config(), log, opt);
  std::vector<std::string> want;
  for (int l = 0; l < 2; ++l)
    for (std::string fam : {"gate", "up"}) {
      for (int e = 0; e < 8; ++e)
        want.push_back("read model.layers." + std::to_string(l) + ".mlp.experts." + std::to_string(e) + "." + fam +
                       "_proj.weight");
      want.push_back("solved layer" + std::to_string(l) + "." + fam);
    }
  EXPECT_EQ(trace, want);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void edit_json(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  auto j = nlohmann::json::parse(read_file(path));
  edit(j);
  write_file_atomic(path, j.dump(2));
}

TEST(ModelDirCompress, BadInputsAreNamed) {
  Scratch s("bad");
  std::ostringstream log;
  const auto cfg = small_config();
  // Not a model directory.
  EXPECT_NE(error_of([&] { compress_model_dir(s.path("nowhere"), s.path("o1"), cfg, log); }).find("no such directory"),
            std::string::npos);
  fs::create_directories(s.path("empty"));
  EXPECT_NE(error_of([&] {
              compress_model_dir(s.path("empty"), s.path("o1"), cfg, log);
            }).find("not a Hugging Face model directory"),
            std::string::npos);
  // No MoE layers: every layer of the deepseek_v2 fixture made dense.
  fs::copy(fixture("deepseek_v2"), s.path("dense"));
  edit_json(s.path("dense") + "/config.json",
            [](nlohmann::json& j) { j["first_k_dense_replace"] = j["num_hidden_layers"]; });
  EXPECT_NE(error_of([&] { compress_model_dir(s.path("dense"), s.path("o2"), cfg, log); }).find("has no MoE layers"),
            std::string::npos);
  // Output not empty.
  EXPECT_NE(error_of([&] {
              compress_model_dir(fixture("olmoe"), s.path("dense"), cfg, log);
            }).find("exists and is not empty"),
            std::string::npos);

  const std::string out = s.path("out");
  compress_model_dir(fixture("olmoe"), out, cfg, log);
  // Already compressed.
  EXPECT_NE(error_of([&] { compress_model_dir(out, s.path("o3"), cfg, log); }).find("already compressed"),
            std::string::npos);
  // The plain loader refuses it (its experts are not in the weights).
  EXPECT_NE(error_of([&] { load_model_dir(out, "cpu", log); }).find(kMobeConfigKey), std::string::npos);

  // Unknown entry version.
  fs::copy(out, s.path("v99"));
  edit_json(s.path("v99") + "/config.json", [](nlohmann::json& j) { j[kMobeConfigKey]["version"] = 99; });
  const auto e99 = error_of([&] { load_compressed(s.path("v99")); });
  EXPECT_NE(e99.find("version 99 is not supported"), std::string::npos) << e99;

  // A missing factor file, and a factor file missing a tensor.
  fs::copy(out, s.path("nofile"));
  fs::remove(fs::path(s.path("nofile")) / "mobe-layer1-up.safetensors");
  EXPECT_NE(
      error_of([&] { load_compressed(s.path("nofile")); }).find("factor file 'mobe-layer1-up.safetensors' is missing"),
      std::string::npos);
  fs::copy(out, s.path("notensor"));
  const std::string bank = s.path("notensor") + "/mobe-layer0-gate.safetensors";
  SafetensorsFile f = load_safetensors(bank);
  std::vector<TensorRecord> kept;
  for (auto& t : f.tensors)
    if (t.name != "mobe.layer0.gate.B") kept.push_back(t);
  save_safetensors(bank, kept, f.metadata);
  const auto em = error_of([&] { load_compressed(s.path("notensor")); });
  EXPECT_NE(em.find("mobe.layer0.gate.B"), std::string::npos) << em;
}

}  // namespace
