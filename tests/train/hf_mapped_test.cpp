// hf_mapped_test.cpp: model directories loaded with their weights memory-mapped in place
// (train/hf_model_dir.h HfWeights::kMapped) and models built without drawing their weights
// (model/init.h SkipInitScope).
// - Every architecture's fixture gives, with fp32 activations, the same logits mapped as copied
//   (the parameters hold the same values; F16/FP8 entries become fp32 copies): tolerance 1e-6.
// - The routed experts' parameters of a mapped load are the file's own pages: their data
//   pointers lie inside a mapping of the safetensors file in /proc/self/maps.
// - A 1 GiB Linear built under SkipInitScope adds less than 64 MiB of resident memory.
// - The auto rule: mapped on the CPU when fp32 would exceed half the available memory.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/host_memory.h"
#include "hf_fixtures.h"
#include "io/atomic_file.h"
#include "model/init.h"
#include "train/hf_model_dir.h"
#include "train_test_util.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& arch) { return moescope::testing::hf_fixture_dir(arch); }

at::Tensor fp32_logits(LoadedRun& run, const std::vector<int64_t>& ids) {
  torch::NoGradGuard ng;
  run.model->compute_dtype = at::kFloat;
  return run.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0)).logits_BSV[0].to(torch::kDouble);
}

struct Mapping {
  uintptr_t begin, end;
  std::string path;
};
std::vector<Mapping> file_mappings() {
  std::ifstream f("/proc/self/maps");
  std::vector<Mapping> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string range, perms, offset, dev, inode, path;
    is >> range >> perms >> offset >> dev >> inode >> path;
    if (path.empty()) continue;
    const auto dash = range.find('-');
    out.push_back(
        {std::stoull(range.substr(0, dash), nullptr, 16), std::stoull(range.substr(dash + 1), nullptr, 16), path});
  }
  return out;
}
bool in_file_mapping(const void* p, const std::string& file, const std::vector<Mapping>& maps) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const std::string canon = fs::canonical(file).string();
  for (const auto& m : maps)
    if (a >= m.begin && a < m.end && m.path == canon) return true;
  return false;
}

class HfMappedArch : public ::testing::TestWithParam<std::string> {};

TEST_P(HfMappedArch, SameLogitsAsTheCopy) {
  const std::string dir = fixture(GetParam());
  const auto e = nlohmann::json::parse(read_file(dir + "/expected.json"));
  const auto ids = e["inputs"][1]["input_ids"].get<std::vector<int64_t>>();
  std::ostringstream log;
  LoadedRun copy = load_model_dir(dir, "cpu", log, HfWeights::kCopy);
  LoadedRun mapped = load_model_dir(dir, "cpu", log, HfWeights::kMapped);
  EXPECT_NE(log.str().find("memory-mapped in place"), std::string::npos) << log.str();
  const double diff = (fp32_logits(copy, ids) - fp32_logits(mapped, ids)).abs().max().item<double>();
  EXPECT_LE(diff, 1e-6) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(All, HfMappedArch, ::testing::ValuesIn(moescope::testing::hf_fixture_names()),
                         [](const auto& i) { return i.param; });

TEST(HfMapped, ExpertWeightsAreTheFilesOwnPages) {
  const std::string dir = fixture("olmoe");  // one F32 file
  std::ostringstream log;
  LoadedRun mapped = load_model_dir(dir, "cpu", log, HfWeights::kMapped);
  LoadedRun copy = load_model_dir(dir, "cpu", log, HfWeights::kCopy);
  const auto maps = file_mappings();
  int64_t experts = 0;
  for (auto& p : mapped.model->named_parameters()) {
    if (p.key().find(".experts.") == std::string::npos) continue;
    ++experts;
    EXPECT_TRUE(in_file_mapping(p.value().data_ptr(), dir + "/model.safetensors", maps)) << p.key();
    EXPECT_FALSE(in_file_mapping(copy.model->named_parameters()[p.key()].data_ptr(), dir + "/model.safetensors", maps))
        << p.key();
  }
  EXPECT_GT(experts, 0);
}

TEST(SkipInit, BuildingAGiBLinearTouchesNoMemory) {
  const auto before = static_cast<int64_t>(process_status_bytes("RssAnon"));
  ASSERT_GT(before, 0);
  torch::nn::Linear l{nullptr};
  {
    SkipInitScope s;
    EXPECT_TRUE(SkipInitScope::active());
    l = make_linear(8192, 32768, 0.02);  // 1 GiB of fp32
  }
  EXPECT_FALSE(SkipInitScope::active());
  EXPECT_EQ(l->weight.sizes().vec(), (std::vector<int64_t>{32768, 8192}));
  EXPECT_EQ(l->options.in_features(), 8192);
  EXPECT_EQ(l->options.out_features(), 32768);
  EXPECT_LT(static_cast<int64_t>(process_status_bytes("RssAnon")) - before, int64_t{64} << 20);
  // Outside the scope the weight is drawn (N(0, std^2)).
  auto drawn = make_linear(64, 128, 0.02);
  EXPECT_NEAR(drawn->weight.std().item<double>(), 0.02, 0.002);
}

TEST(HfWeightsRule, AutoMapsWhatWouldNotFitAsFp32) {
  const double G = 1024.0 * 1024 * 1024;
  EXPECT_EQ(choose_hf_weights(HfWeights::kAuto, "cpu", 26 * G, 22 * G), HfWeights::kMapped);
  EXPECT_EQ(choose_hf_weights(HfWeights::kAuto, "cpu", 12 * G, 22 * G), HfWeights::kMapped);
  EXPECT_EQ(choose_hf_weights(HfWeights::kAuto, "cpu", 10 * G, 22 * G), HfWeights::kCopy);
  EXPECT_EQ(choose_hf_weights(HfWeights::kAuto, "cpu", 10 * G, 0), HfWeights::kCopy);  // unknown memory
  EXPECT_EQ(choose_hf_weights(HfWeights::kAuto, "cuda", 26 * G, 22 * G), HfWeights::kCopy);
  EXPECT_EQ(choose_hf_weights(HfWeights::kMapped, "cpu", 1, 22 * G), HfWeights::kMapped);
  EXPECT_EQ(choose_hf_weights(HfWeights::kCopy, "cpu", 26 * G, 22 * G), HfWeights::kCopy);
  EXPECT_EQ(parse_hf_weights("mapped"), HfWeights::kMapped);
  EXPECT_EQ(parse_hf_weights("auto"), HfWeights::kAuto);
  EXPECT_EQ(parse_hf_weights("copy"), HfWeights::kCopy);
  try {
    parse_hf_weights("mmap");
    FAIL() << "no error";
  } catch (const std::invalid_argument& ex) {
    EXPECT_NE(std::string(ex.what()).find("--weights"), std::string::npos) << ex.what();
  }
}

}  // namespace
