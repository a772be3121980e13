// config_json.cpp: see config_json.h.
#include "hf/config_json.h"

#include <stdexcept>

#include "io/json_guard.h"

namespace moescope::hf {

void ConfigReader::fail(const std::string& key, const std::string& why) const {
  const std::string v = j.contains(key) ? " = " + printable_text(j[key].dump(), 80) : "";
  throw std::runtime_error(where + ": " + key + v + ": " + why);
}

bool ConfigReader::has(const std::string& k) {
  used.insert(k);
  return j.contains(k) && !j[k].is_null();
}

int64_t ConfigReader::i64(const std::string& k, std::optional<int64_t> def) {
  if (!has(k)) {
    if (def) return *def;
    fail(k, "missing (required for this model_type)");
  }
  if (!j[k].is_number_integer()) fail(k, "must be an integer");
  return j[k].get<int64_t>();
}

double ConfigReader::num(const std::string& k, std::optional<double> def) {
  if (!has(k)) {
    if (def) return *def;
    fail(k, "missing (required for this model_type)");
  }
  if (!j[k].is_number()) fail(k, "must be a number");
  return j[k].get<double>();
}

bool ConfigReader::flag(const std::string& k, bool def) {
  if (!has(k)) return def;
  if (!j[k].is_boolean()) fail(k, "must be true or false");
  return j[k].get<bool>();
}

std::string ConfigReader::str(const std::string& k, const std::string& def) {
  if (!has(k)) return def;
  if (!j[k].is_string()) fail(k, "must be a string");
  return j[k].get<std::string>();
}

}  // namespace moescope::hf
