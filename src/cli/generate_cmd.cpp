// generate_cmd.cpp: `moescope generate --run RUN_DIR --prompt STR [sampling options]`.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/any_run.h"
#include "ops/runtime.h"
#include "train/generate.h"
#include "train/loaded_run.h"

namespace moescope {

Command register_generate(CLI::App& app) {
  struct Opts {
    std::string run, prompt, device = "auto", weights = "auto", dtype = "auto";
    SampleOptions s;
    bool no_cache = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("generate", "Sample text from a run's best checkpoint");
  add_run_or_model_options(c, &o->run);
  c->add_option("--prompt", o->prompt, "Prompt text")->required();
  c->add_option("--tokens", o->s.max_new_tokens, "New tokens to generate")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  c->add_option("--temperature", o->s.temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  c->add_option("--top-k", o->s.top_k, "Keep the k most likely tokens (0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  c->add_option("--top-p", o->s.top_p, "Nucleus sampling mass (1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(1e-6, 1.0));
  c->add_option("--repetition-penalty", o->s.repetition_penalty, "CTRL-style penalty (1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(1e-3, 100.0));
  c->add_option("--seed", o->s.seed, "Sampling seed")->capture_default_str();
  c->add_flag("--no-cache", o->no_cache, "Recompute the whole context every token (no KV cache)");
  c->add_flag("--json", o->json, "Print a JSON object (text, tokens/s) instead of plain text");
  c->add_option("--device", o->device, "cpu, cuda or auto")->capture_default_str();
  add_weights_option(c, &o->weights);
  add_dtype_option(
      c, &o->dtype,
      "decoding is matrix-vector work: on the CPU fp32 on the single-token path, on CUDA the model's dtype; "
      "not what training chose");
  return [o]() -> int {
    auto run = load_any_run(o->run, o->device, parse_hf_weights(o->weights));
    auto dev = to_device(resolve_device(o->device));
    o->s.use_cache = !o->no_cache;
    o->s.dtype = parse_dtype_option(o->dtype);
    auto prompt = run.tokenizer->encode(o->prompt);
    auto r = generate(run.model, prompt, o->s, dev);
    const std::string text = run.tokenizer->decode(r.tokens);
    if (o->json) {
      nlohmann::json j{{"prompt", o->prompt},
                       {"text", text},
                       {"new_tokens", r.tokens.size()},
                       {"seconds", r.seconds},
                       {"tokens_per_s", r.tokens_per_s},
                       {"kv_cache", o->s.use_cache},
                       {"decode", r.how.reason}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    } else {
      std::cout << o->prompt << text << std::endl;
      std::cerr << "generate: " << r.how.reason << "\n";
      std::cerr << r.tokens.size() << " tokens in " << r.seconds << " s (" << r.tokens_per_s << " tokens/s, KV cache "
                << (o->s.use_cache ? "on" : "off") << ")" << std::endl;
    }
    return 0;
  };
}

}  // namespace moescope
