// any_run.h: the run a loading command (eval, generate, scope, export) uses, whatever its
// kind: a training run (train/loaded_run.h), a compressed one written by `moescope compress`
// (compress/compressed_run.h) or a Hugging Face model directory (train/hf_model_dir.h); and the
// options that name it and how it is held (--run/--model, --weights, --dtype). It lives in the
// cli so that train never depends on compress.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "train/hf_model_dir.h"
#include "train/loaded_run.h"

namespace moescope {

// A Hugging Face model directory (config.json with a model_type) loads through load_model_dir
// (train/hf_model_dir.h); one written by `compress --model` (compress/mobe_dir.h) with its experts
// composed from their banks once, after the other weights. Otherwise load_run, with the weights of a compressed run
// (compress::load_compressed_weights: every unfactorised weight, each factorised expert matrix composed once from its
// bank) when it is one. `weights` applies to model directories only (train/hf_model_dir.h HfWeights).
LoadedRun load_any_run(const std::string& run_dir, const std::string& device, HfWeights weights = HfWeights::kCopy);

// --run RUN or --model DIR (exactly one), both into *dir: the loading commands (eval, generate).
void add_run_or_model_options(CLI::App* c, std::string* dir);
// The --weights option of the commands that load a model for inference (eval, generate); the
// text is parsed by parse_hf_weights when the command runs.
CLI::Option* add_weights_option(CLI::App* c, std::string* text);
// --dtype auto|fp32|bf16 of the commands that run a loaded model (eval, generate, scope --model);
// `what_auto` says what auto means for that command. Parse with parse_dtype_option.
CLI::Option* add_dtype_option(CLI::App* c, std::string* text, const std::string& what_auto);
DType parse_dtype_option(const std::string& text);

}  // namespace moescope
