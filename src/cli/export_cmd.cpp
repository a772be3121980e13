// export_cmd.cpp: `moescope export --run RUN --out DIR`: a Hugging Face model directory
// (config.json, model.safetensors, tokenizer files) of a run's best checkpoint, as the
// transformers architecture that expresses it exactly (hf/config_export.h: deepseek_v3,
// deepseek_v2, qwen3_moe, qwen2_moe, mixtral, olmoe). Settings no architecture expresses are
// refused by name. RUN may also be a model directory (a MoBE-compressed one is written with its
// experts composed: a plain directory transformers loads).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/any_run.h"
#include "train/hf_model_dir.h"

namespace moescope {

Command register_export(CLI::App& app) {
  struct Opts {
    std::string run, out;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand(
      "export",
      "Write a run's best checkpoint as a Hugging Face model directory (deepseek_v3/v2, qwen2/3_moe, mixtral, olmoe)");
  c->add_option("--run", o->run, "Run directory")->required();
  c->add_option("--out", o->out, "Output directory (new or empty)")->required();
  return [o]() -> int {
    auto run = load_any_run(o->run, "cpu");
    export_hf_model(run.model, run.cfg, o->run, o->out);
    std::cout << "exported " << o->run << " (" << run.checkpoint << ", step " << run.step << ") to " << o->out
              << std::endl;
    return 0;
  };
}

}  // namespace moescope
