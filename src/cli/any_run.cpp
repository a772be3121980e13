// any_run.cpp: see any_run.h.
#include "cli/any_run.h"

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "compress/compressed_run.h"
#include "compress/mobe_dir.h"
#include "train/hf_model_dir.h"

namespace moescope {

LoadedRun load_any_run(const std::string& run_dir, const std::string& device, HfWeights weights) {
  if (!std::filesystem::is_directory(run_dir))
    throw std::runtime_error(run_dir +
                             ": no such directory (expected a run directory or a Hugging Face model directory)");
  if (compress::is_mobe_model_dir(run_dir)) {  // experts stored as basis factors: composed at load
    const HfLoadOverlay overlay = compress::mobe_load(run_dir);
    return load_model_dir(run_dir, device, std::cerr, weights, &overlay);
  }
  if (is_hf_model_dir(run_dir)) return load_model_dir(run_dir, device, std::cerr, weights);
  if (!compress::is_compressed_run(run_dir)) return load_run(run_dir, device);
  return load_run(run_dir, device, [&](Transformer& model) {
    const auto source = compress::load_compressed_weights(run_dir, *model);
    return LoadedWeights{compress::compressed_weights_path(run_dir), source.step};
  });
}

void add_run_or_model_options(CLI::App* c, std::string* dir) {
  auto* run_opt = c->add_option("--run", *dir, "Run directory (or a Hugging Face model directory)");
  auto* model_opt =
      c->add_option("--model", *dir, "Hugging Face model directory (config.json, safetensors, tokenizer.json)");
  run_opt->excludes(model_opt);
  c->callback([c]() {
    if (c->count("--run") + c->count("--model") == 0) throw CLI::RequiredError("--run or --model");
  });
}

CLI::Option* add_weights_option(CLI::App* c, std::string* text) {
  return c
      ->add_option(
          "--weights", *text,
          "Model directories: copy (fp32 copy), mapped (the safetensors pages in place, bf16/fp32, CPU only; "
          "for models near or above RAM) or auto (mapped when the fp32 copy would exceed half the available memory)")
      ->check(CLI::IsMember({"auto", "copy", "mapped"}))
      ->capture_default_str();
}

CLI::Option* add_dtype_option(CLI::App* c, std::string* text, const std::string& what_auto) {
  return c->add_option("--dtype", *text, "Compute dtype: fp32, bf16 or auto (" + what_auto + ")")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}))
      ->capture_default_str();
}

DType parse_dtype_option(const std::string& text) { return parse_enum_or_throw<DType>("--dtype", text); }

}  // namespace moescope
