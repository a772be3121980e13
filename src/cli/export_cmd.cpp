// export_cmd.cpp: `moescope export --run RUN --out DIR`: a Hugging Face model directory
// (model_type deepseek_v3: config.json, model.safetensors, tokenizer files) of a run's best
// checkpoint (train/hf_checkpoint.h). Settings with no Hugging Face equivalent are refused.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/run_loader.h"
#include "train/hf_checkpoint.h"

namespace moescope {

Command register_export(CLI::App& app) {
  struct Opts {
    std::string run, out;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("export", "Write a run's best checkpoint as a Hugging Face deepseek_v3 model directory");
  c->add_option("--run", o->run, "Run directory")->required();
  c->add_option("--out", o->out, "Output directory (new or empty)")->required();
  return [o]() -> int {
    auto run = load_any_run(o->run, "cpu");
    export_hf_model(run.model, run.cfg, o->run, o->out);
    std::cout << "exported " << o->run << " (" << run.checkpoint << ", step " << run.step << ") to " << o->out << std::endl;
    return 0;
  };
}

}  // namespace moescope
