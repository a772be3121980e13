// tokenizer_fields.cpp: tokenizer.json field helpers (see tokenizer_fields.h).
#include "hf/tokenizer_fields.h"

#include <stdexcept>

namespace moescope::hf {

void bad(const std::string& where, const std::string& what) { throw std::invalid_argument(where + ": " + what); }

const json& need(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) bad(where, "expected a JSON object, got " + std::string(obj.type_name()));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) bad(where, std::string("missing field \"") + key + "\"");
  return *it;
}

std::string need_string(const json& obj, const char* key, const std::string& where) {
  const json& v = need(obj, key, where);
  if (!v.is_string()) bad(where + "." + key, "expected a string, got " + std::string(v.type_name()));
  return v.get<std::string>();
}

std::string opt_string(const json& obj, const char* key, const std::string& where, const std::string& def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_string()) bad(where + "." + key, "expected a string, got " + std::string(it->type_name()));
  return it->get<std::string>();
}

bool opt_bool(const json& obj, const char* key, const std::string& where, bool def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean()) bad(where + "." + key, "expected true or false, got " + it->dump());
  return it->get<bool>();
}

std::string type_of(const json& obj, const std::string& where) { return need_string(obj, "type", where); }

HfRegex need_pattern(const json& obj, const char* key, const std::string& where) {
  const json& p = need(obj, key, where);
  const std::string w = where + "." + key;
  try {
    if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) return HfRegex(p["Regex"].get<std::string>());
    if (p.is_object() && p.contains("String") && p["String"].is_string()) {
      const std::string s = p["String"].get<std::string>();
      if (s.empty()) bad(w, "empty String pattern");
      return HfRegex(regex_escape(s));
    }
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).rfind(w, 0) == 0) throw;
    bad(w, e.what());
  }
  bad(w, "expected {\"String\": ...} or {\"Regex\": ...}, got " + p.dump());
}

}  // namespace moescope::hf
