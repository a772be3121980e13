// main.cpp: the moescope command line. Library code throws; errors are reported here.
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/selfcheck.h"
#include "core/config.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  using namespace moescope;
  init_process(argc, argv);
  CLI::App app{"moescope: train, inspect and compress Mixture-of-Experts language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moescope 0.1.0");

  std::string config_path = "configs/tiny.toml";
  std::vector<std::string> sets;
  uint64_t seed = 1234;
  auto* selfcheck = app.add_subcommand("selfcheck", "Build the configured model and check it end to end");
  selfcheck->add_option("--config", config_path, "TOML preset")->capture_default_str();
  selfcheck->add_option("--set", sets, "Override a config key: key=value (repeatable)");
  selfcheck->add_option("--seed", seed, "Random seed")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*selfcheck) return run_selfcheck(load_config(config_path, sets), seed);
  } catch (const std::exception& e) {
    std::cerr << "moescope: error: " << e.what() << std::endl;
    return 2;
  }
  return 0;
}
