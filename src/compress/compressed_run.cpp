// compressed_run.cpp: see compressed_run.h.
#include "compress/compressed_run.h"

#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "model/param_names.h"
#include "model/tensor_io.h"
#include "run/run_dir.h"

namespace moescope::compress {
namespace fs = std::filesystem;

std::string compressed_marker_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "compressed.json").string();
}
bool is_compressed_run(const std::string& run_dir) { return fs::exists(compressed_marker_path(run_dir)); }

void check_compressed_marker(const std::string& run_dir) {
  const std::string p = compressed_marker_path(run_dir);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(p));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(p + ": not valid JSON: " + e.what());
  }
  const int v = j.is_object() ? j.value("moescope_compressed_version", 0) : 0;
  if (v != kCompressedVersion)
    throw std::runtime_error(p + ": compressed-run version " + std::to_string(v) +
                             " is not supported (this moescope reads version " + std::to_string(kCompressedVersion) +
                             "); re-run `moescope compress` on the source run with this build");
}

std::string expert_weight_name(int64_t layer, int64_t expert, const std::string& family) {
  return expert_weight_hf_name(layer, expert, family);
}

namespace {
// A bank tensor: its dtype and rank checked before it is copied out.
at::Tensor tensor(const SafetensorsFile& f, const std::string& name, const std::string& dtype, int64_t dims) {
  const TensorRecord& r = f.at(name);
  if (r.dtype != dtype || static_cast<int64_t>(r.shape.size()) != dims)
    throw std::runtime_error(f.where + ": tensor '" + name + "' must be " + dtype + " with " + std::to_string(dims) +
                             " dimensions");
  return from_record(r);
}

std::string meta(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) throw std::runtime_error(f.where + ": metadata '" + key + "' is missing");
  return it->second;
}
}  // namespace

bool is_basis_tensor(const std::string& name) { return name.rfind("mobe.", 0) == 0; }

std::vector<TensorRecord> basis_records(const std::vector<BasisGroup>& groups) {
  std::vector<TensorRecord> out;
  for (auto& g : groups) {
    const std::string p = "mobe." + g.name + ".";
    auto ex =
        torch::stack({torch::tensor(g.expert_layer, torch::kLong), torch::tensor(g.expert_index, torch::kLong)}, 1);
    out.push_back(to_record(p + "A", g.A_EPR.to(torch::kFloat)));
    out.push_back(to_record(p + "B", g.B_MRD.to(torch::kFloat)));
    out.push_back(to_record(p + "alpha_logits", g.logits_EM.to(torch::kFloat)));
    out.push_back(to_record(p + "mean", g.mean_E.to(torch::kFloat)));
    out.push_back(to_record(p + "experts", ex));
  }
  return out;
}

std::map<std::string, std::string> basis_metadata(const std::vector<BasisGroup>& groups) {
  std::map<std::string, std::string> m{{"moescope.compressed_version", std::to_string(kCompressedVersion)}};
  std::string names;
  for (auto& g : groups) {
    m["mobe." + g.name + ".family"] = g.family;
    m["mobe." + g.name + ".layer"] = std::to_string(g.layer);
    m["mobe." + g.name + ".activation"] = activation_name(g.f);
    names += (names.empty() ? "" : ",") + g.name;
  }
  m["mobe.groups"] = names;
  return m;
}

std::vector<BasisGroup> read_basis_groups(const SafetensorsFile& f) {
  const std::string v = meta(f, "moescope.compressed_version");
  if (v != std::to_string(kCompressedVersion))
    throw std::runtime_error(f.where + ": compressed weights of version " + v +
                             " are not supported (this moescope reads version " + std::to_string(kCompressedVersion) +
                             "); re-run `moescope compress` with this build");
  std::vector<BasisGroup> out;
  std::stringstream ss(meta(f, "mobe.groups"));
  std::string name;
  while (std::getline(ss, name, ',')) {
    BasisGroup g;
    g.name = name;
    const std::string p = "mobe." + name + ".";
    g.family = meta(f, p + "family");
    g.layer = std::stoll(meta(f, p + "layer"));
    g.f = parse_activation(meta(f, p + "activation"));
    g.A_EPR = tensor(f, p + "A", "F32", 3);
    g.B_MRD = tensor(f, p + "B", "F32", 3);
    g.logits_EM = tensor(f, p + "alpha_logits", "F32", 2);
    g.mean_E = tensor(f, p + "mean", "F32", 1);
    auto ex = tensor(f, p + "experts", "I64", 2);
    const int64_t E = g.A_EPR.size(0);
    if (g.B_MRD.size(1) != g.A_EPR.size(2) || g.logits_EM.size(0) != E || g.logits_EM.size(1) != g.B_MRD.size(0) ||
        g.mean_E.size(0) != E || ex.size(0) != E || ex.size(1) != 2)
      throw std::runtime_error(f.where + ": bank '" + name + "' has inconsistent shapes");
    for (int64_t e = 0; e < E; ++e) {
      g.expert_layer.push_back(ex[e][0].item<int64_t>());
      g.expert_index.push_back(ex[e][1].item<int64_t>());
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<std::string> factorised_names(const std::vector<BasisGroup>& groups) {
  std::vector<std::string> out;
  for (auto& g : groups)
    for (size_t e = 0; e < g.expert_layer.size(); ++e)
      out.push_back(expert_weight_name(g.expert_layer[e], g.expert_index[e], g.family));
  return out;
}

void compose_into(TransformerImpl& model, const std::vector<BasisGroup>& groups) {
  torch::NoGradGuard ng;
  std::set<std::string> seen;
  for (auto& g : groups) {
    auto W_EPD = compose_group(g);
    for (int64_t e = 0; e < W_EPD.size(0); ++e) {
      const int64_t l = g.expert_layer[e], i = g.expert_index[e];
      const std::string name = expert_weight_name(l, i, g.family);
      if (!seen.insert(name).second) throw std::runtime_error("compressed weights: " + name + " appears in two banks");
      if (l < 0 || l >= static_cast<int64_t>(model.layers->size()) || !model.layers[l]->as<BlockImpl>()->is_moe())
        throw std::runtime_error("compressed weights: bank " + g.name + " names layer " + std::to_string(l) +
                                 ", which is not a MoE layer");
      auto& experts = model.layers[l]->as<BlockImpl>()->moe->experts;
      if (i < 0 || i >= static_cast<int64_t>(experts->size()))
        throw std::runtime_error("compressed weights: bank " + g.name + " names expert " + std::to_string(i) +
                                 " of layer " + std::to_string(l));
      auto* mlp = experts[i]->as<SwiGLUMlpImpl>();
      auto& w = (g.family == "gate" ? mlp->gate_proj : mlp->up_proj)->weight;
      if (w.sizes() != W_EPD[e].sizes())
        throw std::runtime_error("compressed weights: " + name + " composes to a different shape than the model's");
      w.copy_(W_EPD[e]);
    }
  }
}

std::string compressed_weights_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "model.safetensors").string();
}

void create_compressed_run_dir(const std::string& out_dir) {
  if (fs::exists(config_path(out_dir)))
    throw std::runtime_error("compress: " + out_dir + " already holds a run; choose another --out");
  fs::create_directories(out_dir);
}

void write_compressed_run(const std::string& out_dir, TransformerImpl& model, Config& cfg, const Tokenizer& tokenizer,
                          const std::vector<BasisGroup>& groups, const nlohmann::json& summary,
                          const CompressedSource& source) {
  // Weights: every unfactorised tensor under its HF name, plus the banks.
  const auto names = factorised_names(groups);
  const std::set<std::string> factorised(names.begin(), names.end());
  std::vector<TensorRecord> records;
  for (auto& r : model_records(model))
    if (!factorised.count(r.name)) records.push_back(std::move(r));
  for (auto& r : basis_records(groups)) records.push_back(std::move(r));
  auto meta = basis_metadata(groups);
  meta["format"] = "pt";
  save_safetensors(compressed_weights_path(out_dir), records, meta);
  write_run_config(out_dir, cfg);
  tokenizer.save(out_dir);
  const nlohmann::json marker{{"moescope_compressed_version", kCompressedVersion},
                              {"source_run", source.run},
                              {"source_checkpoint", source.checkpoint},
                              {"source_step", source.step},
                              {"summary", summary}};
  write_file_atomic(compressed_marker_path(out_dir), marker.dump(2) + "\n");  // last: the run is complete
}

CompressedSource load_compressed_weights(const std::string& run_dir, TransformerImpl& model) {
  check_compressed_marker(run_dir);
  const SafetensorsFile f = load_safetensors(compressed_weights_path(run_dir));
  const auto groups = read_basis_groups(f);
  const auto names = factorised_names(groups);
  load_model_weights(model, f, std::set<std::string>(names.begin(), names.end()), is_basis_tensor);
  compose_into(model, groups);
  const auto marker = nlohmann::json::parse(read_file(compressed_marker_path(run_dir)));
  CompressedSource s;
  s.run = marker.value("source_run", std::string());
  s.checkpoint = marker.value("source_checkpoint", std::string());
  const auto step = marker.find("source_step");
  if (step != marker.end() && !step->is_number_integer())
    throw std::runtime_error(compressed_marker_path(run_dir) + ": source_step must be an integer");
  s.step = step == marker.end() ? 0 : step->get<int64_t>();
  return s;
}

}  // namespace moescope::compress
