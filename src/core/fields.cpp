// fields.cpp: parsing/serialising config fields by dotted key, and their help (see fields.h).
#include "core/fields.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "core/str_edit.h"

#include <sys/stat.h>

namespace moescope {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

[[noreturn]] void unknown_key(const std::string& key, const std::vector<std::string>& keys, const std::string& where) {
  std::string msg = "unknown config key '" + key + "'" + (where.empty() ? "" : " in " + where);
  std::string hint = closest_key(key, keys);
  if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
  throw std::invalid_argument(msg);
}

void flatten_toml(const toml::table& t, const std::string& prefix,
                  std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [k, node] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto* sub = node.as_table()) flatten_toml(*sub, key, out);
    else out.emplace_back(key, &node);
  }
}

void flatten_json(const nlohmann::json& j, const std::string& prefix,
                  std::vector<std::pair<std::string, nlohmann::json>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) flatten_json(*it, key, out);
    else out.emplace_back(key, *it);
  }
}

}  // namespace

std::string closest_key(const std::string& key, const std::vector<std::string>& keys) {
  std::string best;
  size_t best_d = std::max<size_t>(3, key.size() / 3) + 1;
  for (auto& k : keys) {
    // Compare against the full key and against its last component.
    size_t d = edit_distance(key, k);
    auto dot = k.rfind('.');
    if (dot != std::string::npos) d = std::min(d, edit_distance(key, k.substr(dot + 1)) + 1);
    if (d < best_d) best_d = d, best = k;
  }
  return best;
}

void FieldTable::add_ref(const std::string& key, Ref r, const FieldInfo& info) {
  if (refs_.count(key)) throw std::logic_error("duplicate config key " + key);
  refs_[key] = Entry{std::move(r), info};
  order_.push_back(key);
}

const FieldInfo& FieldTable::info(const std::string& key) const {
  auto it = refs_.find(key);
  if (it == refs_.end()) unknown_key(key, keys(), "");
  return it->second.info;
}

std::string FieldTable::value_string(const std::string& key) const {
  auto it = refs_.find(key);
  if (it == refs_.end()) unknown_key(key, keys(), "");
  return std::visit(
      [](const auto& p) -> std::string {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, EnumRef>) return p.get();
        else if constexpr (std::is_same_v<T, std::string*>) return "\"" + *p + "\"";
        else if constexpr (std::is_same_v<T, bool*>) return *p ? "true" : "false";
        else if constexpr (std::is_same_v<T, double*>) {
          std::ostringstream o;
          o << *p;
          return o.str();
        } else return std::to_string(*p);
      },
      it->second.ref);
}

std::string FieldTable::help_text() const {
  std::ostringstream o;
  for (const auto& key : order_) {
    const Entry& e = refs_.at(key);
    std::string allowed;
    if (auto* en = std::get_if<EnumRef>(&e.ref)) allowed = "one of " + choices_text(en->choices);
    else allowed = e.info.range.describe();
    o << "  " << key << " = " << value_string(key);
    if (!allowed.empty()) o << "  [" << allowed << "]";
    if (e.info.help && *e.info.help) o << "  " << e.info.help;
    o << "\n";
  }
  return o.str();
}

std::vector<std::string> FieldTable::keys() const {
  std::vector<std::string> k;
  for (auto& [key, _] : refs_) k.push_back(key);
  return k;
}

void FieldTable::set_from_string(const std::string& key, const std::string& raw) {
  auto it = refs_.find(key);
  if (it == refs_.end()) unknown_key(key, keys(), "");
  std::string value = trim(raw);
  auto bad = [&](const char* type) {
    throw std::invalid_argument("config key '" + key + "': cannot parse '" + value + "' as " + type);
  };
  std::visit(
      [&](auto& p) {
        using T = std::remove_pointer_t<std::decay_t<decltype(p)>>;
        if constexpr (std::is_same_v<T, int64_t>) {
          size_t pos = 0;
          try {
            *p = std::stoll(value, &pos);
          } catch (...) {
            bad("an integer");
          }
          if (pos != value.size()) bad("an integer");
        } else if constexpr (std::is_same_v<T, double>) {
          size_t pos = 0;
          try {
            *p = std::stod(value, &pos);
          } catch (...) {
            bad("a number");
          }
          if (pos != value.size() || !std::isfinite(*p)) bad("a finite number");
        } else if constexpr (std::is_same_v<T, bool>) {
          if (value == "true") *p = true;
          else if (value == "false") *p = false;
          else bad("a boolean (true/false)");
        } else {
          std::string v = value;
          if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
            v = v.substr(1, v.size() - 2);
          if constexpr (std::is_same_v<T, EnumRef>) p.set(v);
          else *p = v;
        }
      },
      it->second.ref);
}

void FieldTable::apply_assignment(const std::string& a) {
  auto eq = a.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--set expects key=value, got '" + a + "'");
  set_from_string(trim(a.substr(0, eq)), a.substr(eq + 1));
}

namespace {
// "an integer (5)", "a string (\"32\")": the type of a JSON value, for type errors.
std::string json_type_text(const nlohmann::json& v) {
  const char* t = v.is_boolean()          ? "a boolean"
                  : v.is_number_integer() ? "an integer"
                  : v.is_number()         ? "a float"
                  : v.is_string()         ? "a string"
                  : v.is_array()          ? "an array"
                  : v.is_null()           ? "null"
                                          : "an object";
  std::string shown = v.dump();
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  return std::string(t) + " (" + shown + ")";
}
}  // namespace

void FieldTable::set_from_json(const std::string& key, const nlohmann::json& v) {
  auto it = refs_.find(key);
  if (it == refs_.end()) unknown_key(key, keys(), "");
  auto bad = [&](const char* type) {
    throw std::invalid_argument("config key '" + key + "': expected " + type + ", found " + json_type_text(v));
  };
  std::visit(
      [&](auto& p) {
        using T = std::remove_pointer_t<std::decay_t<decltype(p)>>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (!v.is_number_integer()) bad("an integer");
          if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
            bad("an integer that fits in 64 bits");
          *p = v.get<int64_t>();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!v.is_number()) bad("a number");
          if (!std::isfinite(v.get<double>())) bad("a finite number");
          *p = v.get<double>();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!v.is_boolean()) bad("a boolean (true or false)");
          *p = v.get<bool>();
        } else {
          if (!v.is_string()) bad("a string");
          if constexpr (std::is_same_v<T, EnumRef>) p.set(v.get<std::string>());
          else *p = v.get<std::string>();
        }
      },
      it->second.ref);
}

nlohmann::json FieldTable::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (auto& [key, entry] : refs_) {
    nlohmann::json* node = &out;
    std::stringstream ss(key);
    std::string part;
    std::vector<std::string> parts;
    while (std::getline(ss, part, '.')) parts.push_back(part);
    for (size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
    std::visit(
        [&](const auto& p) {
          if constexpr (std::is_same_v<std::decay_t<decltype(p)>, EnumRef>) (*node)[parts.back()] = p.get();
          else (*node)[parts.back()] = *p;
        },
        entry.ref);
  }
  return out;
}

void FieldTable::from_json(const nlohmann::json& nested, const std::string& where) {
  if (!nested.is_object()) throw std::invalid_argument(where + ": expected a JSON object");
  std::vector<std::pair<std::string, nlohmann::json>> flat;
  flatten_json(nested, "", flat);
  for (auto& [k, v] : flat) {
    if (!has(k)) unknown_key(k, keys(), where);
    set_from_json(k, v);
  }
}

void FieldTable::load_toml_string(const std::string& text, const std::string& where) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << where << ":" << e.source().begin.line << ":" << e.source().begin.column
        << ": TOML parse error: " << e.description();
    throw std::invalid_argument(msg.str());
  }
  std::vector<std::pair<std::string, const toml::node*>> flat;
  flatten_toml(tbl, "", flat);
  for (auto& [k, node] : flat) {
    if (!has(k)) unknown_key(k, keys(), where);
    // TOML values are typed: each goes in as its JSON twin, checked like config.json (an
    // integer may stand for a float, nothing else converts: "32", 1 for true, 1e12 for an integer).
    nlohmann::json v;
    if (node->is_string()) v = *node->value<std::string>();
    else if (node->is_integer()) v = *node->value<int64_t>();
    else if (node->is_floating_point()) v = *node->value<double>();
    else if (node->is_boolean()) v = *node->value<bool>();
    else {
      const char* t = node->is_array()  ? "an array"
                      : node->is_date() ? "a date"
                      : node->is_time() ? "a time"
                                        : "a date-time";
      throw std::invalid_argument(where + ": config key '" + k + "' is " + t + ", which no config key takes");
    }
    try {
      set_from_json(k, v);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": " + e.what());
    }
  }
}

void FieldTable::load_toml_file(const std::string& path) {
  // Regular files only: stat() does not block, where opening a FIFO would; a directory would
  // read as empty and train with all defaults. Bounded: a config is small.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::invalid_argument("cannot open config file '" + path + "': not found");
  if (!S_ISREG(st.st_mode))
    throw std::invalid_argument("config file '" + path + "' is " +
                                (S_ISDIR(st.st_mode)    ? "a directory"
                                 : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                                                        : "a device or socket") +
                                ", not a regular file (give a .toml file)");
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes)
    throw std::invalid_argument("config file '" + path + "' is " + std::to_string(st.st_size) + " bytes, over the " +
                                std::to_string(kMaxConfigBytes) + "-byte limit of a config file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument("cannot open config file '" + path + "'");
  std::string text(kMaxConfigBytes + 1, '\0');
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(f.gcount()));
  if (text.size() > kMaxConfigBytes)
    throw std::invalid_argument("config file '" + path + "' grew past the size limit while read");
  load_toml_string(text, path);
}

}  // namespace moescope
