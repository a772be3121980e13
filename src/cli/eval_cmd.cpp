// eval_cmd.cpp: `moescope eval --run RUN_DIR [--data TEXT]`: one JSON object on stdout.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/run_loader.h"
#include "ops/runtime.h"
#include "train/evaluate.h"
#include "train/run_dir.h"

namespace moescope {

Command register_eval(CLI::App& app) {
  struct Opts {
    std::string run, data, device = "auto", weights = "auto";
    int64_t max_batches = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("eval", "Validation loss of a run's best checkpoint, as JSON");
  add_run_or_model_options(c, &o->run);
  c->add_option("--data", o->data, "Evaluate on this text's validation split instead of the run's corpus");
  c->add_option("--device", o->device, "cpu, cuda or auto")->capture_default_str();
  add_weights_option(c, &o->weights);
  c->add_option("--max-batches", o->max_batches, "Cap on validation batches (0 = all)")->capture_default_str();
  return [o]() -> int {
    auto run = load_any_run(o->run, o->device, parse_hf_weights(o->weights));
    auto data = Dataset::open_for_eval(o->run, run.cfg.data, o->data, std::cerr);
    const auto& tc = run.cfg.train;
    auto dev = to_device(resolve_device(o->device));
    auto r = evaluate(run.model, data, tc.batch_size, tc.seq_len, o->max_batches, dev);
    nlohmann::json j{{"run", o->run}, {"checkpoint", run.checkpoint}, {"step", run.step}, {"val_loss", r.loss},
                     {"perplexity", r.perplexity}, {"tokens", r.tokens}, {"corpus", data.corpus_path()}};
    std::cout << j.dump() << std::endl;
    return 0;
  };
}

}  // namespace moescope
