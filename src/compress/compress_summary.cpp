// compress_summary.cpp: see compress_summary.h.
#include "compress/compress_summary.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "io/jsonl.h"
#include "run/log_fields.h"
#include "run/log_record.h"

namespace moescope::compress {

namespace {

// The fields render_compress_summary() reads must have its types; the error names the line,
// the field and the type expected (run/log_record.h).
void check_summary(const nlohmann::json& s, const std::string& where) {
  for (const char* k : {"solver", "scope", "activation", "stop_reason"}) string_field(s, k, where);
  for (const char* k : {"expert_params_before", "expert_params_after", "iterations"}) integer_field(s, k, where);
  for (const char* k : {"expert_compression_rate", "model_compression_rate", "wall_s"}) number_field(s, k, where);
  for (const char* list : {"banks", "groups"}) {
    const nlohmann::json* a = array_field(s, list, where);
    if (!a) throw std::runtime_error(where + ": missing field '" + list + "' (an array)");
    for (const auto& e : *a) {
      if (!e.is_object()) throw std::runtime_error(field_type_error(where, std::string(list) + "[]", "an object", e));
      string_field(e, "group", where);
      integer_field(e, "rank", where);
      integer_field(e, "bases", where);
    }
  }
}

}  // namespace

nlohmann::json read_compress_summary(const std::string& metrics_path) {
  auto log = read_jsonl(metrics_path);
  for (size_t i = log.records.size(); i-- > 0;) {
    const std::string where = log_where(metrics_path, log.line_numbers[i]);
    if (string_field(log.records[i], log_field::kType, where).value_or("") != log_field::kCompressSummary) continue;
    check_summary(log.records[i], where);
    return log.records[i];
  }
  throw std::runtime_error(metrics_path + ": no compress_summary record (the compression did not finish)");
}

std::string render_compress_summary(const nlohmann::json& s) {
  std::ostringstream o;
  char line[256];
  auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
  std::snprintf(line, sizeof line,
                "compressed (%s, %s, f = %s): routed-expert params %lld -> %lld (%.1f%% fewer), model %.1f%% fewer, "
                "%lld iterations (%s), %.1f s\n",
                s.value("solver", "?").c_str(), s.value("scope", "?").c_str(), s.value("activation", "?").c_str(),
                static_cast<long long>(s.value("expert_params_before", 0)),
                static_cast<long long>(s.value("expert_params_after", 0)),
                100 * s.value("expert_compression_rate", 0.0), 100 * s.value("model_compression_rate", 0.0),
                static_cast<long long>(s.value("iterations", 0)), s.value("stop_reason", "?").c_str(),
                s.value("wall_s", 0.0));
  o << line;
  std::snprintf(line, sizeof line, "%-14s %5s %5s %10s %10s %8s %8s %8s %10s\n", "bank", "rank", "bases", "rel_error",
                "mse", "support", "entropy", "coher", "cond");
  o << line;
  const auto& banks = s.at("banks");
  const auto& groups = s.at(log_field::kGroups);
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    const auto& b = i < banks.size() ? banks[i] : nlohmann::json::object();
    std::snprintf(line, sizeof line, "%-14s %5lld %5lld %10.3e %10.3e %8.1f %8.3f %8.3f %10.3g\n",
                  g.value(log_field::kGroup, "?").c_str(), static_cast<long long>(b.value("rank", 0)),
                  static_cast<long long>(b.value("bases", 0)), num(g["rel_error"]), num(g["mse"]),
                  num(g["support_median"]), num(g["alpha_entropy"]), num(g["coherence"]), num(g["cond"]));
    o << line;
  }
  return o.str();
}

}  // namespace moescope::compress
