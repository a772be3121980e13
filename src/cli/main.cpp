// main.cpp: the moescope command line. Library code throws; errors are reported here.
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "ops/runtime.h"

int main(int argc, char** argv) {
  using namespace moescope;
  init_process(argc, argv);
  CLI::App app{"moescope: train, inspect and compress Mixture-of-Experts language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moescope 0.1.0");
  std::vector<std::pair<CLI::App*, Command>> cmds;
  auto add = [&](Command (*reg)(CLI::App&)) {
    auto before = app.get_subcommands({}).size();
    Command cmd = reg(app);
    cmds.emplace_back(app.get_subcommands({})[before], cmd);
  };
  add(register_train);
  add(register_eval);
  add(register_generate);
  add(register_scope);
  add(register_compress);
  add(register_tokenize);
  add(register_export);
  add(register_dashboard);
  add(register_report);
  add(register_selfcheck);
  add(register_info);
  add(register_launch);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, cmd] : cmds)
      if (sub->parsed()) return cmd();
  } catch (const std::exception& e) {
    std::cerr << "moescope: error: " << e.what() << std::endl;
    return 2;
  }
  return 0;
}
