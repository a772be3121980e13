// commands.h: the moescope subcommands. Each registers its options on the app and returns
// the function that runs it (called only when that subcommand was given).
#pragma once
#include <functional>

namespace CLI {
class App;
}

namespace moescope {

using Command = std::function<int()>;

Command register_selfcheck(CLI::App& app);
Command register_train(CLI::App& app);
Command register_eval(CLI::App& app);
Command register_generate(CLI::App& app);
Command register_scope(CLI::App& app);
Command register_dashboard(CLI::App& app);
Command register_report(CLI::App& app);
Command register_compress(CLI::App& app);
Command register_info(CLI::App& app);
Command register_tokenize(CLI::App& app);
Command register_export(CLI::App& app);
Command register_launch(CLI::App& app);

}  // namespace moescope
