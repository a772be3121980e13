// fields.h: a tiny reflection table for plain config structs.
// Each config struct lists its fields once (key -> reference); everything else
// (TOML presets, --set key=value, JSON dump/load) goes through this table, so an
// unknown key is always an error that names the key.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class FieldTable {
 public:
  using Ref = std::variant<int64_t*, double*, bool*, std::string*>;

  void add(const std::string& key, int64_t& v) { add_ref(key, &v); }
  void add(const std::string& key, double& v) { add_ref(key, &v); }
  void add(const std::string& key, bool& v) { add_ref(key, &v); }
  void add(const std::string& key, std::string& v) { add_ref(key, &v); }

  bool has(const std::string& key) const { return refs_.count(key) != 0; }
  std::vector<std::string> keys() const;

  // Parses `value` as the field's type; throws std::invalid_argument naming the key
  // when the key is unknown or the value does not parse.
  void set_from_string(const std::string& key, const std::string& value);
  // "key=value" form used by --set.
  void apply_assignment(const std::string& assignment);
  void set_from_json(const std::string& key, const nlohmann::json& value);

  // Flat {"a.b": value} <-> nested {"a": {"b": value}} JSON.
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& nested, const std::string& where);
  // Reads a TOML file; every leaf key must be known.
  void load_toml_file(const std::string& path);
  void load_toml_string(const std::string& text, const std::string& where);

 private:
  void add_ref(const std::string& key, Ref r);
  std::map<std::string, Ref> refs_;
};

// Suggests the closest known key (for "did you mean" hints); empty if none is close.
std::string closest_key(const std::string& key, const std::vector<std::string>& keys);

}  // namespace moescope
