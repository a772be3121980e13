// log_record.cpp: typed run-log field reads (see log_record.h).
#include "run/log_record.h"

#include "io/json_guard.h"

namespace moescope {
namespace {

std::string excerpt(const nlohmann::json& v) {
  if (v.is_object()) return "{...}";
  if (v.is_array()) return "[...]";
  return printable_text(v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 40);
}

const nlohmann::json* find(const nlohmann::json& rec, const char* key) {
  if (!rec.is_object()) return nullptr;
  auto it = rec.find(key);
  return it == rec.end() ? nullptr : &*it;
}

[[noreturn]] void missing(const std::string& where, const char* key, const char* expected) {
  throw std::runtime_error(where + ": missing field '" + key + "' (" + expected + ")");
}

}  // namespace

std::string log_where(const std::string& path, size_t line) { return line ? path + ":" + std::to_string(line) : path; }

std::string field_type_error(const std::string& where, const std::string& key, const char* expected,
                             const nlohmann::json& got) {
  return where + ": field '" + key + "' must be " + expected + ", got " + got.type_name() + " " + excerpt(got);
}

std::optional<int64_t> integer_field(const nlohmann::json& rec, const char* key, const std::string& where) {
  const nlohmann::json* v = find(rec, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() <= uint64_t(INT64_MAX)) return int64_t(v->get<uint64_t>());
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  throw std::runtime_error(field_type_error(where, key, "an integer", *v));
}

std::optional<double> number_field(const nlohmann::json& rec, const char* key, const std::string& where) {
  const nlohmann::json* v = find(rec, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw std::runtime_error(field_type_error(where, key, "a number", *v));
  return v->get<double>();
}

std::optional<std::string> string_field(const nlohmann::json& rec, const char* key, const std::string& where) {
  const nlohmann::json* v = find(rec, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw std::runtime_error(field_type_error(where, key, "a string", *v));
  return v->get<std::string>();
}

const nlohmann::json* array_field(const nlohmann::json& rec, const char* key, const std::string& where) {
  const nlohmann::json* v = find(rec, key);
  if (v && !v->is_array()) throw std::runtime_error(field_type_error(where, key, "an array", *v));
  return v;
}

int64_t require_integer(const nlohmann::json& rec, const char* key, const std::string& where) {
  auto v = integer_field(rec, key, where);
  if (!v) missing(where, key, "an integer");
  return *v;
}

double require_number(const nlohmann::json& rec, const char* key, const std::string& where) {
  auto v = number_field(rec, key, where);
  if (!v) missing(where, key, "a number");
  return *v;
}

}  // namespace moescope
