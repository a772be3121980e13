// compress_cmd.cpp: `moescope compress --run RUN_DIR --out OUT_DIR [options]`: factorise the
// routed experts' gate/up matrices into shared basis banks (docs/compression.md) and write a
// loadable compressed run. `--model HF_DIR` instead compresses a Hugging Face model directory,
// streamed one bank at a time (compress/model_dir_compress.h), into a model directory. Prints the parameter budget
// before solving and a JSON summary after. Every compress.* key is also a flag (compress.rank_ratio -> --rank-ratio),
// made from the config's field list; --bases is kept as the older spelling of --n-bases.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "compress/compressed_run.h"
#include "compress/compressor.h"
#include "compress/model_dir_compress.h"
#include "hf/config_import.h"
#include "io/jsonl.h"
#include "train/loaded_run.h"

namespace moescope {
namespace fs = std::filesystem;

Command register_compress(CLI::App& app) {
  struct Opts {
    std::string run, model, out, weight_by;
    std::vector<std::string> sets;
    std::map<std::string, std::string> keys;  // compress.* key -> its flag's value ("" = not given)
    bool dry_run = false;
    compress::RestartOptions restarts;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("compress",
                               "Compress a run's routed experts into shared basis banks (Mixture of Basis Experts)");
  auto* run_opt = c->add_option("--run", o->run, "Source run directory (its best checkpoint)");
  auto* model_opt =
      c->add_option("--model", o->model,
                    "Source Hugging Face model directory, compressed one layer at a time without loading the model");
  run_opt->excludes(model_opt);
  c->add_option("--out", o->out,
                "Output directory: a loadable run (--run) or model directory (--model) for eval, generate, scope");
  {
    Config defaults;
    FieldTable t = defaults.fields();
    defaults.compress.visit_fields([&](const char* name, auto&, const FieldInfo& info) {
      const std::string key = std::string("compress.") + name;
      std::string flag = "--" + std::string(name);
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (key == "compress.n_bases") flag += ",--bases";
      c->add_option(flag, o->keys[key], std::string(info.help) + " (" + key + ", default " + t.value_string(key) + ")");
    });
  }
  c->add_option("--restarts", o->restarts.restarts,
                "Initialisations tried per bank (the best after --restart-iters wins)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c->add_option("--restart-iters", o->restarts.iters, "Solver iterations per trial initialisation")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  c->add_option("--set", o->sets, "Any compress.* key: compress.key=value (repeatable)");
  c->add_flag("--dry-run", o->dry_run, "Print the parameter budget and exit");
  c->add_option("--weight-by", o->weight_by,
                "A `scope --model` run (its routing_profile.json): weight each expert's reconstruction error by its "
                "routing share on that corpus, floored at compress.weight_floor (docs/compression.md)");
  return [o, c]() -> int {
    if (c->count("--run") + c->count("--model") == 0)
      throw std::invalid_argument("compress: give --run RUN_DIR or --model HF_DIR");
    auto apply_flags = [&](Config& cfg) {
      FieldTable t = cfg.fields();
      for (auto& s : o->sets) {
        if (s.rfind("compress.", 0) != 0)
          throw std::invalid_argument("compress: --set " + s + ": only compress.* keys can be set here");
        t.apply_assignment(s);
      }
      for (const auto& [key, value] : o->keys)
        if (!value.empty()) t.set_from_string(key, value);
      cfg.compress.validate();
    };
    if (!o->model.empty()) {
      Config cfg;  // compress.* defaults, then the flags
      apply_flags(cfg);
      auto& cc = cfg.compress;
      if (o->dry_run) {
        auto sizes = compress::plan_model_dir(o->model, cc);
        std::cerr << "compress: " << o->model << ", scope " << cc.scope << "\n" << sizes.render();
        std::cout << sizes.to_json().dump() << std::endl;
        return 0;
      }
      if (o->out.empty()) throw std::invalid_argument("compress: --out OUT_DIR is required (unless --dry-run)");
      std::optional<compress::RoutingCounts> weight_by;  // read before solving: a bad run fails fast
      if (!o->weight_by.empty()) weight_by = compress::read_routing_counts(o->weight_by);
      auto j = compress::compress_model_dir(o->model, o->out, cc, std::cerr,
                                            {o->restarts, weight_by ? &*weight_by : nullptr, nullptr});
      j["out"] = o->out;
      std::cout << j.dump() << std::endl;
      return 0;
    }
    if (is_hf_model_dir(o->run))
      throw std::invalid_argument("compress: '" + o->run +
                                  "' is a Hugging Face model directory; compress it with --model");
    if (compress::is_compressed_run(o->run))
      throw std::invalid_argument("compress: '" + o->run +
                                  "' is already a compressed run; compress its source run instead");
    auto run = load_run(o->run, "cpu");
    Config cfg = run.cfg;
    apply_flags(cfg);
    auto& cc = cfg.compress;
    std::optional<compress::RoutingCounts> weight_by;  // read before solving: a bad run fails fast
    if (!o->weight_by.empty()) weight_by = compress::read_routing_counts(o->weight_by);
    auto sizes = compress::plan_sizes(*run.model, cc);
    if (weight_by) compress::check_routing_counts(*run.model, *weight_by);
    std::cerr << "compress: " << o->run << " (" << run.checkpoint << "), solver " << cc.solver << ", scope " << cc.scope
              << ", f = " << cc.activation << "\n"
              << sizes.render();
    if (o->dry_run) {
      std::cout << sizes.to_json().dump() << std::endl;
      return 0;
    }
    if (o->out.empty()) throw std::invalid_argument("compress: --out OUT_DIR is required (unless --dry-run)");
    compress::create_compressed_run_dir(o->out);
    JsonlWriter metrics(metrics_path(o->out), /*append=*/false);
    auto outcome =
        compress::compress_model(*run.model, cc, &metrics, std::cerr, o->restarts, weight_by ? &*weight_by : nullptr);
    compress::write_compressed_run(o->out, *run.model, cfg, *run.tokenizer, outcome.groups, outcome.summary,
                                   {o->run, run.checkpoint, run.step});
    nlohmann::json j = outcome.summary;
    j["out"] = o->out;
    std::cout << j.dump() << std::endl;
    return 0;
  };
}

}  // namespace moescope
