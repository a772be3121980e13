// checkpoint.cpp: see checkpoint.h.
#include "train/checkpoint.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <mutex>
#include <filesystem>
#include <stdexcept>

#include "io/json_guard.h"
#include "io/safetensors.h"
#include "io/remove_tree.h"
#include "model/tensor_io.h"
#include "train/test_hooks.h"

namespace moescope {
namespace fs = std::filesystem;

nlohmann::json TrainerState::to_json() const {
  return {{"version", kTrainerStateVersion},
          {"step", step},
          {"micro_index", micro_index},
          {"tokens_seen", tokens_seen},
          {"skipped_steps", skipped_steps},
          {"consecutive_nonfinite", consecutive_nonfinite},
          {"best_val_loss", std::isfinite(best_val_loss) ? nlohmann::json(best_val_loss) : nlohmann::json(nullptr)},
          {"best_step", best_step},
          {"elapsed_s", elapsed_s},
          {"eval_pending", eval_pending}};
}

TrainerState TrainerState::from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("version"))
    throw std::runtime_error(where + ": trainer state has no version field");
  if (j["version"] != kTrainerStateVersion)
    throw std::runtime_error(where + ": trainer state version " + j["version"].dump() +
                             " is not supported (this build reads version " + std::to_string(kTrainerStateVersion) +
                             "); use the moescope release that wrote it");
  // Every field must be present, of its type and in its range: a bad field is refused here,
  // before anything (the model, metrics.jsonl) is touched.
  auto bad = [&](const std::string& key, const std::string& why) -> std::runtime_error {
    return std::runtime_error(where + ": trainer state field '" + key + "' " + why +
                              " (a damaged or edited checkpoint; use checkpoints/best or an older copy)");
  };
  auto integer = [&](const char* key, int64_t lo, const std::string& range) {
    if (!j.contains(key)) throw bad(key, "is missing");
    const auto& v = j[key];
    if (!v.is_number_integer()) throw bad(key, "must be an integer, found " + v.dump());
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      throw bad(key, "= " + v.dump() + " is out of range");
    const int64_t x = v.get<int64_t>();
    if (x < lo) throw bad(key, "= " + std::to_string(x) + ": must be " + range);
    return x;
  };
  auto number = [&](const char* key, bool nullable) {
    if (!j.contains(key)) throw bad(key, "is missing");
    const auto& v = j[key];
    if (nullable && v.is_null()) return std::numeric_limits<double>::infinity();
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
      throw bad(key, "must be a finite number >= 0" + std::string(nullable ? " or null" : "") + ", found " + v.dump());
    return v.get<double>();
  };
  TrainerState s;
  s.step = integer("step", 0, ">= 0");
  s.micro_index =
      integer("micro_index", s.step, ">= step = " + std::to_string(s.step) + " (each step uses a micro-batch)");
  s.tokens_seen = integer("tokens_seen", 0, ">= 0");
  s.skipped_steps = integer("skipped_steps", 0, ">= 0");
  if (s.skipped_steps > s.step)
    throw bad("skipped_steps", "= " + std::to_string(s.skipped_steps) + ": must be <= step");
  s.consecutive_nonfinite = integer("consecutive_nonfinite", 0, ">= 0");
  if (s.consecutive_nonfinite > s.skipped_steps)
    throw bad("consecutive_nonfinite", "= " + std::to_string(s.consecutive_nonfinite) + ": must be <= skipped_steps");
  s.best_val_loss = number("best_val_loss", true);
  s.best_step = integer("best_step", -1, ">= -1");
  if (s.best_step > s.step) throw bad("best_step", "= " + std::to_string(s.best_step) + ": must be <= step");
  s.elapsed_s = number("elapsed_s", false);
  if (j.contains("optimizer_steps")) integer("optimizer_steps", 0, ">= 0");
  if (j.contains("eval_pending")) {  // absent in checkpoints written before it existed
    if (!j["eval_pending"].is_boolean())
      throw bad("eval_pending", "must be a boolean, found " + j["eval_pending"].dump());
    s.eval_pending = j["eval_pending"].get<bool>();
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
  test_hooks::crash_point("save_begin");

  std::map<std::string, std::string> meta{{"moescope.format_version", "1"}, {"moescope.step", std::to_string(st.step)}};
  save_model_weights(*model, (tmp / "model.safetensors").string(), meta);
  test_hooks::maybe_crash_after_checkpoint_weights();
  test_hooks::crash_point("save_weights_written");

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

  test_hooks::crash_point("save_state_written");

  // Swap. When `target` is missing, `aside` may be the only complete copy (a crash between the
  // two renames of an earlier save): it stays until the new one is in place.
  if (fs::exists(target)) {
    remove_tree(aside.string());
    fs::rename(target, aside);
    test_hooks::crash_point("save_moved_aside");
  }
  fs::rename(tmp, target);
  test_hooks::crash_point("save_renamed");
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
  const nlohmann::json sj = parse_json_guarded(it->second, state_path + ": trainer state");
  TrainerState st = TrainerState::from_json(sj, state_path);
  load_model_weights(*model, weights);
  // The router bias buffers are saved with the trainer state too: each must be there, F32 [E].
  auto moe = model->moe_layers();
  for (size_t i = 0; i < moe.size(); ++i) {
    const std::string name = "router_bias/" + std::to_string(i);
    if (!state.has(name))
      throw std::runtime_error(state_path + ": missing tensor '" + name + "' (the router bias of MoE layer " +
                               std::to_string(i) + "): incomplete or edited checkpoint");
    const TensorRecord& r = state.at(name);
    if (r.dtype != "F32" || r.shape != std::vector<int64_t>{moe[i]->gate->bias.size(0)})
      throw std::runtime_error(state_path + ": tensor '" + name + "' is " + r.dtype + " " + shape_text(r.shape) +
                               ", expected F32 [" + std::to_string(moe[i]->gate->bias.size(0)) + "]");
  }
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
      if (r.name.rfind("exp_avg", 0) == 0) {
        if (r.dtype != "F32")
          throw std::runtime_error(state_path + ": tensor '" + r.name + "' is stored as " + r.dtype +
                                   ", the optimizer expects F32");
        named.emplace_back(r.name, from_record(r));
      }
    const auto steps = sj.find("optimizer_steps");
    if (steps != sj.end() && !steps->is_number_integer())
      throw std::runtime_error(state_path + ": trainer state field 'optimizer_steps' must be an integer, got " +
                               steps->type_name());
    try {
      opt->load_state(named, steps == sj.end() ? int64_t{0} : steps->get<int64_t>());
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(state_path + ": " + e.what());
    }
    if (!state.has("rng/cpu")) throw std::runtime_error(state_path + ": missing tensor 'rng/cpu' (the RNG state)");
    if (state.at("rng/cpu").dtype != "U8" || state.at("rng/cpu").shape.size() != 1)
      throw std::runtime_error(state_path + ": tensor 'rng/cpu' must be a U8 vector, found " +
                               state.at("rng/cpu").dtype);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(from_record(state.at("rng/cpu")));
  }
  return st;
}

}  // namespace moescope
