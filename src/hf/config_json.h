// config_json.h: reading a config.json object key by key, strictly typed, with errors that
// name the file, the key and its value ("<where>: <key> = <value>: <why>"), and a record of
// every key read, so that the import can refuse the keys nobody read.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace moescope::hf {

struct ConfigReader {
  const nlohmann::json& j;
  std::string where;
  std::set<std::string> used;

  // Throws std::runtime_error: where: key = value: why.
  [[noreturn]] void fail(const std::string& key, const std::string& why) const;
  // Marks `k` read; true when it is present and not null.
  bool has(const std::string& k);
  // The value of `k`, `def` when missing or null; without `def` a missing key is an error.
  int64_t i64(const std::string& k, std::optional<int64_t> def = std::nullopt);
  double num(const std::string& k, std::optional<double> def = std::nullopt);
  bool flag(const std::string& k, bool def);
  std::string str(const std::string& k, const std::string& def);
};

}  // namespace moescope::hf
