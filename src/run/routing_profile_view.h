// routing_profile_view.h: reading RUN_DIR/routing_profile.json (run/routing_profile_fields.h)
// for `moescope scope --run RUN` and the dashboard, torch-free. A file of another version, or
// one whose fields have the wrong type, is an error naming the file and the field.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace moescope {

// The run's routing profile, or nullopt when the run has none (a training run). Throws
// std::runtime_error naming the file for unreadable, invalid or wrongly versioned content.
std::optional<nlohmann::json> read_routing_profile(const std::string& run_dir);

// Checks the layout (version, types of every field the readers use); throws
// std::runtime_error "<where>: <field> ..." otherwise.
void check_routing_profile(const nlohmann::json& j, const std::string& where);

// Text for the terminal: corpora, tokens per expert across layers, per-layer whole-corpus load,
// layer-to-layer agreement, the most specialised experts (two or more corpora) and each
// expert's `tokens_per_expert` most frequent tokens.
std::string render_routing_profile(const nlohmann::json& j, int tokens_per_expert = 3);

}  // namespace moescope
