// fields.h: a tiny reflection table for the config structs (field_spec.h).
// Every struct's field list is bound into this table (dotted key -> member, help, range);
// TOML presets, --set key=value, JSON dump/load and --help all go through it, so an unknown
// key is always an error that names the key. Enum fields parse their spelling here, once.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/enum_names.h"
#include "core/field_spec.h"

namespace moescope {

// The largest TOML config file read (a preset is a few KiB).
constexpr uint64_t kMaxConfigBytes = 1 << 20;

class FieldTable {
 public:
  // An enum field: read and written through its spelling.
  struct EnumRef {
    std::function<std::string()> get;
    std::function<void(const std::string&)> set;  // throws naming the key and the choices
    std::vector<std::string> choices;
  };
  using Ref = std::variant<int64_t*, double*, bool*, std::string*, EnumRef>;

  void add(const std::string& key, int64_t& v, const FieldInfo& info = {}) { add_ref(key, &v, info); }
  void add(const std::string& key, double& v, const FieldInfo& info = {}) { add_ref(key, &v, info); }
  void add(const std::string& key, bool& v, const FieldInfo& info = {}) { add_ref(key, &v, info); }
  void add(const std::string& key, std::string& v, const FieldInfo& info = {}) { add_ref(key, &v, info); }
  template <class E, std::enable_if_t<is_named_enum<E>::value, int> = 0>
  void add(const std::string& key, E& v, const FieldInfo& info = {}) {
    EnumRef r{[&v] { return std::string(enum_name(v)); },
              [&v, key](const std::string& s) { v = parse_enum_or_throw<E>("config: " + key, s); }, enum_choices<E>()};
    add_ref(key, std::move(r), info);
  }
  // Binds every field of a struct with a field list under "section.".
  template <class S>
  void add_section(const std::string& section, S& s) {
    s.visit_fields(
        [&](const char* name, auto& member, const FieldInfo& info) { add(section + "." + name, member, info); });
  }

  bool has(const std::string& key) const { return refs_.count(key) != 0; }
  std::vector<std::string> keys() const;  // sorted

  // Parses `value` as the field's type; throws std::invalid_argument naming the key
  // when the key is unknown or the value does not parse.
  void set_from_string(const std::string& key, const std::string& value);
  // "key=value" form used by --set.
  void apply_assignment(const std::string& assignment);
  // Strictly typed, as load_toml_file; the message names the key, the type expected and found.
  void set_from_json(const std::string& key, const nlohmann::json& value);

  // Flat {"a.b": value} <-> nested {"a": {"b": value}} JSON.
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& nested, const std::string& where);
  // Reads a TOML file (a regular file of at most kMaxConfigBytes); every leaf key must be known
  // and its TOML type must be the field's (an integer may stand for a float; no other
  // conversion): errors name the file, the key, the type found and the type expected.
  void load_toml_file(const std::string& path);
  void load_toml_string(const std::string& text, const std::string& where);

  // One line per key, in declaration order: key = current value, choices or range, help.
  std::string help_text() const;
  const FieldInfo& info(const std::string& key) const;
  // The value as --set would spell it ("0.001", "true", "softmax").
  std::string value_string(const std::string& key) const;

 private:
  struct Entry {
    Ref ref;
    FieldInfo info;
  };
  void add_ref(const std::string& key, Ref r, const FieldInfo& info);
  std::map<std::string, Entry> refs_;
  std::vector<std::string> order_;  // declaration order (for help_text)
};

// Range checks of every numeric field of a struct with a field list (field_spec.h).
template <class S>
void check_ranges(const std::string& section, const S& s) {
  s.visit_fields([&](const char* name, const auto& v, const FieldInfo& info) {
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) info.range.check(section + "." + name, v);
  });
}

// Suggests the closest known key (for "did you mean" hints); empty if none is close.
std::string closest_key(const std::string& key, const std::vector<std::string>& keys);

}  // namespace moescope
