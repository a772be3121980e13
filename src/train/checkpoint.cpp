// checkpoint.cpp: see checkpoint.h.
#include "train/checkpoint.h"

#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <filesystem>
#include <stdexcept>

#include "io/json_guard.h"
#include "io/safetensors.h"
#include "io/remove_tree.h"
#include "train/tensor_io.h"
#include "train/test_hooks.h"

namespace moescope {
namespace fs = std::filesystem;

nlohmann::json TrainerState::to_json() const {
  return {{"version", kTrainerStateVersion}, {"step", step}, {"micro_index", micro_index},
          {"tokens_seen", tokens_seen}, {"skipped_steps", skipped_steps},
          {"consecutive_nonfinite", consecutive_nonfinite},
          {"best_val_loss", std::isfinite(best_val_loss) ? nlohmann::json(best_val_loss) : nlohmann::json(nullptr)},
          {"best_step", best_step}, {"elapsed_s", elapsed_s}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("version"))
    throw std::runtime_error(where + ": trainer state has no version field");
  if (j["version"] != kTrainerStateVersion)
    throw std::runtime_error(where + ": trainer state version " + j["version"].dump() + " is not supported (this build reads version " +
                             std::to_string(kTrainerStateVersion) + "); use the moescope release that wrote it");
  TrainerState s;
  try {
    s.step = j.at("step");
    s.micro_index = j.at("micro_index");
    s.tokens_seen = j.at("tokens_seen");
    s.skipped_steps = j.at("skipped_steps");
    s.consecutive_nonfinite = j.at("consecutive_nonfinite");
    s.best_val_loss = j.at("best_val_loss").is_null() ? std::numeric_limits<double>::infinity() : j.at("best_val_loss").get<double>();
    s.best_step = j.at("best_step");
    s.elapsed_s = j.at("elapsed_s");
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": malformed trainer state: " + e.what());
  }
  return s;
}

void save_checkpoint(const std::string& dir, Transformer& model, const AdamW* opt, const TrainerState& st,
                     const nlohmann::json& config) {
  const fs::path target(dir);
  fs::create_directories(target.parent_path());
  const fs::path tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(getpid()));
  const fs::path aside = target.parent_path() / ("." + target.filename().string() + ".old");
  remove_tree(tmp.string());
  fs::create_directories(tmp);

  std::map<std::string, std::string> meta{{"moescope.format_version", "1"}, {"moescope.step", std::to_string(st.step)}};
  save_model_weights(*model, (tmp / "model.safetensors").string(), meta);
  test_hooks::maybe_crash_after_checkpoint_weights();

  std::vector<TensorRecord> recs;
  if (opt)
    for (auto& [name, t] : opt->state()) recs.push_back(to_record(name, t));
  auto layers = model->moe_layers();
  for (size_t i = 0; i < layers.size(); ++i)
    recs.push_back(to_record("router_bias/" + std::to_string(i), layers[i]->gate->bias));
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    recs.push_back(to_record("rng/cpu", gen.get_state()));
  }
  auto sj = st.to_json();
  sj["optimizer_steps"] = opt ? opt->steps() : 0;
  sj["config"] = config;
  nlohmann::json knobs = nlohmann::json::array();
  for (auto* l : layers) knobs.push_back(l->gate->knobs().to_json());
  sj["router_knobs"] = knobs;
  save_safetensors((tmp / "trainer_state.safetensors").string(), recs, {{"moescope.trainer_state", sj.dump()}});

  remove_tree(aside.string());
  if (fs::exists(target)) fs::rename(target, aside);
  fs::rename(tmp, target);
  remove_tree(aside.string());
}

std::string find_checkpoint(const std::string& dir) {
  const fs::path target(dir);
  const fs::path aside = target.parent_path() / ("." + target.filename().string() + ".old");
  if (fs::exists(target / "model.safetensors")) return target.string();
  if (fs::exists(aside / "model.safetensors")) return aside.string();
  return "";
}

TrainerState load_checkpoint(const std::string& dir, Transformer& model, AdamW* opt) {
  const std::string found = find_checkpoint(dir);
  if (found.empty()) throw std::runtime_error("no checkpoint at " + dir);
  auto weights = load_safetensors(found + "/model.safetensors");
  const std::string state_path = found + "/trainer_state.safetensors";
  if (!fs::exists(state_path)) throw std::runtime_error(state_path + ": missing (incomplete checkpoint)");
  auto state = load_safetensors(state_path);
  auto it = state.metadata.find("moescope.trainer_state");
  if (it == state.metadata.end()) throw std::runtime_error(state_path + ": no moescope.trainer_state metadata");
  nlohmann::json sj;
  try {
    if (!json_depth_error(it->second).empty()) throw std::runtime_error(json_depth_error(it->second));
    sj = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    throw std::runtime_error(state_path + ": trainer state is not valid JSON: " + e.what());
  }
  TrainerState st = TrainerState::from_json(sj, state_path);
  load_model_weights(*model, weights);
  if (sj.contains("router_knobs")) {
    const auto& knobs = sj["router_knobs"];
    auto layers = model->moe_layers();
    if (!knobs.is_array() || knobs.size() != layers.size())
      throw std::runtime_error(state_path + ": router_knobs holds " + std::to_string(knobs.size()) + " entries for " +
                               std::to_string(layers.size()) + " MoE layers");
    for (size_t i = 0; i < layers.size(); ++i) layers[i]->gate->set_knobs(RouterKnobs::from_json(knobs[i], state_path));
    st.router_knobs_restored = true;
  }
  if (opt) {
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (auto& r : state.tensors)
      if (r.name.rfind("exp_avg", 0) == 0) named.emplace_back(r.name, from_record(r));
    const auto steps = sj.find("optimizer_steps");
    if (steps != sj.end() && !steps->is_number_integer())
      throw std::runtime_error(state_path + ": trainer state field 'optimizer_steps' must be an integer, got " + steps->type_name());
    opt->load_state(named, steps == sj.end() ? int64_t{0} : steps->get<int64_t>());
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(from_record(state.at("rng/cpu")));
  }
  return st;
}

}  // namespace moescope
