// mobe_dir.cpp: see mobe_dir.h.
#include "compress/mobe_dir.h"

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "compress/compressed_run.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "io/safetensors.h"
#include "model/param_names.h"
#include "hf/config_import.h"

namespace moescope::compress {
namespace fs = std::filesystem;

namespace {
nlohmann::json read_config(const std::string& dir) {
  const std::string p = (fs::path(dir) / "config.json").string();
  return parse_json_guarded(read_file(p), p);
}
}  // namespace

bool is_mobe_model_dir(const std::string& dir) {
  if (!fs::is_regular_file(fs::path(dir) / "config.json")) return false;
  try {
    const auto j = read_config(dir);
    return j.is_object() && j.contains(kMobeConfigKey);
  } catch (const std::exception&) {
    return false;  // not this loader's problem: the ordinary loader names what is wrong
  }
}

nlohmann::json read_mobe_entry(const std::string& dir) {
  const std::string where = (fs::path(dir) / "config.json").string() + ": " + kMobeConfigKey;
  const auto j = read_config(dir);
  if (!j.is_object() || !j.contains(kMobeConfigKey)) throw std::runtime_error(where + " is missing");
  const auto& e = j[kMobeConfigKey];
  if (!e.is_object()) throw std::runtime_error(where + " is not an object");
  if (!e.contains("version") || !e["version"].is_number_integer())
    throw std::runtime_error(where + ": missing integer \"version\"");
  const int v = e["version"].get<int>();
  if (v != kMobeDirVersion)
    throw std::runtime_error(where + ": version " + std::to_string(v) +
                             " is not supported (this moescope reads version " + std::to_string(kMobeDirVersion) +
                             "); re-run `moescope compress --model` on the source with this build");
  if (!e.contains("files") || !e["files"].is_array() || e["files"].empty())
    throw std::runtime_error(where + ": missing non-empty list \"files\" (the factor files)");
  for (const auto& f : e["files"]) {
    if (!f.is_string()) throw std::runtime_error(where + ": \"files\" holds a non-string entry");
    const std::string name = f.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "..")
      throw std::runtime_error(where + ": \"files\" entry '" + name + "' is not a file name in the directory");
    if (!fs::is_regular_file(fs::path(dir) / name))
      throw std::runtime_error(where + ": factor file '" + name + "' is missing from " + dir);
  }
  return e;
}

std::vector<BasisGroup> read_mobe_banks(const std::string& dir) {
  const auto e = read_mobe_entry(dir);
  std::vector<BasisGroup> out;
  for (const auto& f : e["files"]) {
    const SafetensorsFile file = load_safetensors((fs::path(dir) / f.get<std::string>()).string());
    try {
      for (auto& g : read_basis_groups(file)) out.push_back(std::move(g));
    } catch (const std::invalid_argument& ex) {  // SafetensorsFile::at: a missing tensor
      throw std::runtime_error(ex.what());
    }
  }
  return out;
}

std::set<std::string> factorised_module_names(const std::vector<BasisGroup>& groups) {
  std::set<std::string> out;
  for (auto& g : groups)
    for (size_t e = 0; e < g.expert_layer.size(); ++e)
      out.insert(expert_prefix(g.expert_layer[e], g.expert_index[e]) + g.family + "_proj.weight");
  return out;
}

HfLoadOverlay mobe_load(const std::string& dir) {
  auto groups = std::make_shared<std::vector<BasisGroup>>(read_mobe_banks(dir));
  HfLoadOverlay l;
  l.absent = factorised_module_names(*groups);
  l.fill = [groups](Transformer& model) { compose_into(*model, *groups); };
  return l;
}

}  // namespace moescope::compress
