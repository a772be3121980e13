// probe_cache.cpp: see probe_cache.h.
#include "core/probe_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace moescope {
namespace fs = std::filesystem;
namespace {

// The file's JSON, or null (absent). *warning is set when it exists but is not a usable cache.
nlohmann::json read_cache(const std::string& path, std::string* warning) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return nullptr;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || !j.contains("entries") ||
      !j["entries"].is_object()) {
    *warning = "probe cache " + path + " is not a moescope probe cache (ignored; measuring again and rewriting it)";
    return nullptr;
  }
  if (j["version"] != kProbeCacheVersion) return nullptr;  // another version's file: not ours to read
  return j;
}

}  // namespace

std::string default_probe_cache_path() {
  const char* mc = std::getenv("MOESCOPE_CACHE");
  if (mc && *mc) return (fs::path(mc) / "probes.json").string();
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (fs::path(xdg) / "moescope" / "probes.json").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "moescope" / "probes.json").string();
  return "";
}

std::string probe_key(const std::string& what, const std::string& cpu_model, const std::string& torch_version,
                      int threads) {
  return what + "|" + cpu_model + "|torch " + torch_version + "|threads " + std::to_string(threads);
}

ProbeLookup probe_cache_get(const std::string& path, const std::string& key) {
  ProbeLookup r;
  const nlohmann::json j = read_cache(path, &r.warning);
  if (j.is_null()) return r;
  const auto& entries = j["entries"];
  if (!entries.contains(key)) return r;
  const auto& e = entries[key];
  if (!e.is_object() || !e.contains("value") || !e["value"].is_number() || !(e["value"].get<double>() > 0)) {
    r.warning = "probe cache " + path + ": entry '" + key + "' is damaged (ignored; measuring again)";
    return r;
  }
  r.value = e["value"].get<double>();
  return r;
}

std::string probe_cache_put(const std::string& path, const std::string& key, double value,
                            const std::vector<double>& samples) {
  if (path.empty()) return "";
  std::string warning;
  nlohmann::json j = read_cache(path, &warning);
  if (j.is_null()) j = {{"version", kProbeCacheVersion}, {"entries", nlohmann::json::object()}};
  j["entries"][key] = {{"value", value}, {"samples", samples}};
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out) {
      fs::remove(tmp, ec);
      return "could not write the probe cache " + path + " (the measurement is used for this run only)";
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return "could not write the probe cache " + path + " (the measurement is used for this run only)";
  }
  return "";
}

}  // namespace moescope
