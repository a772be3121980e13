// log_record.h: typed reads of run-log record fields, with errors that say where and what.
//
// A run log is data from disk: a record may hold "step": "forty" or "moe": 3. Readers use these
// instead of nlohmann's get<>/value(), whose type_error ("[json.exception.type_error.302] type
// must be number, but is string") names neither the file, the line nor the field. Every
// message reads "<path>:<line>: field '<key>' must be <expected>, got <type> <value>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace moescope {

// "path:line" (just the path when line is 0).
std::string log_where(const std::string& path, size_t line);

// The message for field `key` of the record at `where` holding `got` instead of `expected`
// ("an integer", "a number", "a string", "an array", "an object").
std::string field_type_error(const std::string& where, const std::string& key, const char* expected,
                             const nlohmann::json& got);

// Throws std::runtime_error(field_type_error(...)) when `rec` (an object) has `key` and it is
// not of the type; returns nullopt when the key is absent.
std::optional<int64_t> integer_field(const nlohmann::json& rec, const char* key, const std::string& where);
std::optional<double> number_field(const nlohmann::json& rec, const char* key, const std::string& where);
std::optional<std::string> string_field(const nlohmann::json& rec, const char* key, const std::string& where);
// The array at `key`, or nullptr when absent; throws when of another type.
const nlohmann::json* array_field(const nlohmann::json& rec, const char* key, const std::string& where);

// The same, throwing "<where>: missing field '<key>' (<expected>)" when absent.
int64_t require_integer(const nlohmann::json& rec, const char* key, const std::string& where);
double require_number(const nlohmann::json& rec, const char* key, const std::string& where);

}  // namespace moescope
