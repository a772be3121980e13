// tokenizer_fields.h: reading tokenizer.json fields with errors that name the field. Every helper
// throws std::invalid_argument("<where>.<key>: <problem>"); HfTokenizer adds the file name.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "hf/regex.h"

namespace moescope::hf {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what);

// obj[key], which must exist and not be null.
const json& need(const json& obj, const char* key, const std::string& where);
std::string need_string(const json& obj, const char* key, const std::string& where);
// obj[key] as a string, `def` when missing or null.
std::string opt_string(const json& obj, const char* key, const std::string& where, const std::string& def = "");
bool opt_bool(const json& obj, const char* key, const std::string& where, bool def);
// The "type" string of a component object.
std::string type_of(const json& obj, const std::string& where);

// A {"String": s} or {"Regex": r} pattern as a regex (a String is matched literally).
HfRegex need_pattern(const json& obj, const char* key, const std::string& where);

}  // namespace moescope::hf
