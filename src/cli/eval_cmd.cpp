// eval_cmd.cpp: `moescope eval --run RUN_DIR [--data TEXT]`: one JSON object on stdout.
// `--logits IDS` (comma list of token ids) prints the model's fp32 logits of that one sequence
// instead, {"ids": [...], "logits": [[V floats] per position]}: what an outside implementation
// (transformers on an exported directory, tests/python/test_hf_export.py) is compared against.
#include <sstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/any_run.h"
#include "ops/runtime.h"
#include "train/dtype_choice.h"
#include "train/evaluate.h"
#include "train/loaded_run.h"

namespace moescope {

Command register_eval(CLI::App& app) {
  struct Opts {
    std::string run, data, device = "auto", weights = "auto", dtype = "auto";
    int64_t max_batches = 0;
    std::string logits;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("eval", "Validation loss of a run's best checkpoint, as JSON");
  add_run_or_model_options(c, &o->run);
  c->add_option("--data", o->data, "Evaluate on this text's validation split instead of the run's corpus");
  c->add_option("--device", o->device, "cpu, cuda or auto")->capture_default_str();
  add_weights_option(c, &o->weights);
  add_dtype_option(c, &o->dtype,
                   "bf16 where this device's matmuls are natively and measurably faster in it, as train.dtype "
                   "auto; not the run's saved choice; --logits always fp32");
  c->add_option("--max-batches", o->max_batches, "Cap on validation batches (0 = all)")->capture_default_str();
  c->add_option("--logits", o->logits,
                "Print the fp32 logits of this comma list of token ids as JSON {ids, logits} instead of the loss");
  return [o]() -> int {
    if (!o->logits.empty()) {
      std::vector<int64_t> ids;
      std::stringstream ss(o->logits);
      std::string item;
      while (std::getline(ss, item, ',')) {
        try {
          size_t used = 0;
          ids.push_back(std::stoll(item, &used));
          if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception&) {
          throw std::invalid_argument("--logits: '" + item + "' is not a token id (want a comma list like 5,17,3)");
        }
      }
      auto run = load_any_run(o->run, o->device, HfWeights::kCopy);
      for (int64_t id : ids)
        if (id < 0 || id >= run.cfg.model.vocab_size)
          throw std::invalid_argument("--logits: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                      std::to_string(run.cfg.model.vocab_size) + ")");
      if (static_cast<int64_t>(ids.size()) > run.cfg.model.max_seq_len)
        throw std::invalid_argument("--logits: " + std::to_string(ids.size()) + " ids exceed model.max_seq_len " +
                                    std::to_string(run.cfg.model.max_seq_len));
      auto dev = to_device(resolve_device(o->device));
      run.model->compute_dtype = at::kFloat;
      run.model->eval();
      torch::NoGradGuard ng;
      auto ids_1S = torch::tensor(ids, torch::kLong).unsqueeze(0).to(dev);
      auto logits_SV = run.model->forward(ids_1S).logits_BSV[0].to(torch::kCPU).to(torch::kFloat).contiguous();
      nlohmann::json rows = nlohmann::json::array();
      const float* p = logits_SV.data_ptr<float>();
      const int64_t S = logits_SV.size(0), V = logits_SV.size(1);
      for (int64_t s = 0; s < S; ++s) rows.push_back(std::vector<float>(p + s * V, p + (s + 1) * V));
      std::cout << nlohmann::json{{"ids", ids}, {"logits", rows}}.dump() << std::endl;
      return 0;
    }
    auto run = load_any_run(o->run, o->device, parse_hf_weights(o->weights));
    auto data = Dataset::open_for_eval(o->run, run.cfg.data, o->data, std::cerr);
    const auto& tc = run.cfg.train;
    const std::string resolved = resolve_device(o->device);
    auto dev = to_device(resolved);
    run.model->compute_dtype =
        compute_dtype(resolve_batch_dtype(parse_dtype_option(o->dtype), resolved, "eval", std::cerr));
    auto r = evaluate(run.model, data, tc.batch_size, tc.seq_len, o->max_batches, dev);
    nlohmann::json j{{"run", o->run},
                     {"checkpoint", run.checkpoint},
                     {"step", run.step},
                     {"val_loss", r.loss},
                     {"perplexity", r.perplexity},
                     {"tokens", r.tokens},
                     {"corpus", data.corpus_path()}};
    std::cout << j.dump() << std::endl;
    return 0;
  };
}

}  // namespace moescope
