// targets_train.cpp: fuzz targets for the config and checkpoint readers (their checks are
// issue 13 part B's; these run the entry points as they are).
//   config:        a TOML preset, optionally followed by "\n#--set\n" and one --set
//                  assignment a line (load_config); or, starting with '{', a run's
//                  config.json (read_run_config).
//   trainer_state: the "moescope.trainer_state" JSON of a checkpoint (starting with '{'; the
//                  fixture run's tensors are kept), or a whole trainer_state.safetensors
//                  file, loaded into the fixture run's model and optimizer (load_checkpoint).
#include <torch/torch.h>

#include <filesystem>

#include "core/config.h"
#include "fuzz_target.h"
#include "io/json_guard.h"
#include "io/safetensors.h"
#include "model/transformer.h"
#include "run/run_dir.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/loaded_run.h"

namespace fs = std::filesystem;

namespace moescope::fuzz {
namespace {

const std::string kSetMark = "\n#--set\n";
std::string fixture() { return std::string(MOESCOPE_SOURCE_DIR) + "/tests/fixtures/runs/tiny-remediated"; }

FuzzTarget config_target() {
  FuzzTarget t;
  t.name = "config";
  auto dir = scratch_dir("config");
  t.state = dir;
  for (const char* preset : {"tiny", "demo", "ref-cpu"})
    t.seeds.push_back(get_file(std::string(MOESCOPE_SOURCE_DIR) + "/configs/" + preset + ".toml"));
  t.seeds.push_back(t.seeds[0] + kSetMark + "moe.top_k=2\ntrain.lr=0.001\nscope.enabled=false\nattn.type=mha\n");
  t.seeds.push_back(get_file(fixture() + "/config.json"));
  const std::string d = *dir;
  t.run = [d](const std::string& input) {
    if (!input.empty() && input[0] == '{') {
      put_file(config_path(d), input);
      read_run_config(d);
      return;
    }
    const size_t mark = input.find(kSetMark);
    put_file(d + "/preset.toml", input.substr(0, mark));
    std::vector<std::string> sets;
    if (mark != std::string::npos) {
      std::string rest = input.substr(mark + kSetMark.size());
      for (size_t p = 0; p <= rest.size();) {
        size_t e = rest.find('\n', p);
        if (e == std::string::npos) e = rest.size();
        if (e > p) sets.push_back(rest.substr(p, e - p));  // blank lines are not assignments
        p = e + 1;
      }
    }
    load_config(d + "/preset.toml", sets);
  };
  return t;
}

struct CheckpointState {
  std::shared_ptr<std::string> dir;
  Config cfg;
  Transformer model{nullptr};
  std::unique_ptr<AdamW> opt;
  std::vector<TensorRecord> tensors;
  std::map<std::string, std::string> metadata;  // without moescope.trainer_state
};

FuzzTarget trainer_state_target() {
  auto s = std::make_shared<CheckpointState>();
  s->dir = scratch_dir("trainer-state");
  const std::string ckpt = *s->dir + "/checkpoints/latest";
  fs::create_directories(ckpt);
  fs::copy_file(fixture() + "/checkpoints/latest/model.safetensors", ckpt + "/model.safetensors");
  s->cfg = read_run_config(fixture());
  s->model = Transformer(s->cfg.model);
  s->opt =
      std::make_unique<AdamW>(adamw_params(*s->model, s->cfg.train.decay_embeddings, s->cfg.train.router_lr_mult),
                              s->cfg.train.beta1, s->cfg.train.beta2, s->cfg.train.adam_eps, s->cfg.train.weight_decay);
  const std::string state_file = fixture() + "/checkpoints/latest/trainer_state.safetensors";
  SafetensorsFile f = load_safetensors(state_file);
  s->tensors = f.tensors;
  s->metadata = f.metadata;
  const std::string meta = s->metadata.at("moescope.trainer_state");
  s->metadata.erase("moescope.trainer_state");

  FuzzTarget t;
  t.name = "trainer_state";
  t.max_len = 256 << 10;
  t.state = s;
  t.seeds = {meta, get_file(state_file)};
  t.run = [s, ckpt](const std::string& input) {
    std::string bytes = input;
    if (!input.empty() && input[0] == '{') {
      auto meta = s->metadata;
      meta["moescope.trainer_state"] = input;
      bytes = encode_safetensors(s->tensors, meta);
      stage([&] { TrainerState::from_json(parse_json_guarded(input, "fuzz trainer state"), "fuzz trainer state"); });
    }
    put_file(ckpt + "/trainer_state.safetensors", bytes);
    load_checkpoint(ckpt, s->model, s->opt.get());
  };
  return t;
}

}  // namespace

std::vector<TargetFactory> train_targets() {
  return {{"config", config_target}, {"trainer_state", trainer_state_target}};
}

}  // namespace moescope::fuzz
