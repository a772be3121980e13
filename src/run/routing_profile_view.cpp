// routing_profile_view.cpp: see routing_profile_view.h.
#include "run/routing_profile_view.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "run/routing_profile_fields.h"

namespace moescope {
namespace pf = profile_field;
namespace fs = std::filesystem;
namespace {

[[noreturn]] void bad(const std::string& where, const std::string& field, const std::string& what) {
  throw std::runtime_error(where + ": " + field + " " + what);
}
const nlohmann::json& need(const nlohmann::json& o, const char* key, const std::string& where, const std::string& path,
                           bool (nlohmann::json::*is)() const noexcept, const char* type) {
  auto it = o.find(key);
  if (it == o.end()) bad(where, path + key, "is missing");
  if (!((*it).*is)()) bad(where, path + key, std::string("is not ") + type);
  return *it;
}
void numbers(const nlohmann::json& a, const std::string& where, const std::string& field, bool nulls_ok = false) {
  for (const auto& v : a)
    if (!v.is_number() && !(nulls_ok && v.is_null())) bad(where, field, "holds a value that is not a number");
}
std::string quoted(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '\n') o += "\\n";
    else if (ch == '\t') o += "\\t";
    else if (ch == '"') o += "\\\"";
    else o += ch;
  }
  return o + "\"";
}
double num(const nlohmann::json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

void check_routing_profile(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) bad(where, "the file", "is not a JSON object");
  const auto& v = need(j, pf::kVersionKey, where, "", &nlohmann::json::is_number_integer, "an integer");
  if (v.get<int64_t>() != pf::kVersion)
    bad(where, pf::kVersionKey,
        std::to_string(v.get<int64_t>()) + " is not supported (this moescope reads version " +
            std::to_string(pf::kVersion) + ")");
  const auto& corpora = need(j, pf::kCorpora, where, "", &nlohmann::json::is_array, "an array");
  for (const auto& c : corpora) {
    if (!c.is_object()) bad(where, "corpora[]", "is not an object");
    need(c, pf::kName, where, "corpora[].", &nlohmann::json::is_string, "a string");
    need(c, pf::kTokens, where, "corpora[].", &nlohmann::json::is_number_integer, "an integer");
  }
  const auto& layers = need(j, pf::kLayers, where, "", &nlohmann::json::is_array, "an array");
  for (const auto& l : layers) {
    if (!l.is_object()) bad(where, "layers[]", "is not an object");
    const std::string p = "layers[].";
    need(l, pf::kLayer, where, p, &nlohmann::json::is_number_integer, "an integer");
    const int64_t E = need(l, pf::kExperts, where, p, &nlohmann::json::is_number_integer, "an integer").get<int64_t>();
    for (const char* k : {pf::kCounts, pf::kSpecialisation, pf::kPreferredCorpus, pf::kTopTokens, pf::kDead}) {
      const auto& a = need(l, k, where, p, &nlohmann::json::is_array, "an array");
      if (std::string(k) != pf::kDead && static_cast<int64_t>(a.size()) != E)
        bad(where, p + k, "has " + std::to_string(a.size()) + " entries for " + std::to_string(E) + " experts");
      if (std::string(k) != pf::kTopTokens) numbers(a, where, p + k, std::string(k) == pf::kSpecialisation);
    }
    for (const char* k : {pf::kCorpusCounts, pf::kCorpusShare}) {
      const auto& a = need(l, k, where, p, &nlohmann::json::is_array, "an array");
      if (a.size() != corpora.size())
        bad(where, p + k,
            "has " + std::to_string(a.size()) + " rows for " + std::to_string(corpora.size()) + " corpora");
      for (const auto& row : a) {
        if (!row.is_array() || static_cast<int64_t>(row.size()) != E)
          bad(where, p + k, "has a row that is not " + std::to_string(E) + " numbers");
        numbers(row, where, p + k);
      }
    }
    for (const auto& list : l[pf::kTopTokens]) {
      if (!list.is_array()) bad(where, p + "top_tokens[]", "is not an array");
      for (const auto& t : list) {
        if (!t.is_object()) bad(where, p + "top_tokens[][]", "is not an object");
        need(t, pf::kId, where, p + "top_tokens[][].", &nlohmann::json::is_number_integer, "an integer");
        need(t, pf::kText, where, p + "top_tokens[][].", &nlohmann::json::is_string, "a string");
        need(t, pf::kCount, where, p + "top_tokens[][].", &nlohmann::json::is_number_integer, "an integer");
        need(t, pf::kShare, where, p + "top_tokens[][].", &nlohmann::json::is_number, "a number");
      }
    }
  }
  const auto& agree = need(j, pf::kAgreement, where, "", &nlohmann::json::is_array, "an array");
  for (const auto& a : agree) {
    if (!a.is_object()) bad(where, "agreement[]", "is not an object");
    for (const char* k : {pf::kFrom, pf::kTo})
      need(a, k, where, "agreement[].", &nlohmann::json::is_number_integer, "an integer");
    for (const char* k : {pf::kMi, pf::kNmi}) need(a, k, where, "agreement[].", &nlohmann::json::is_number, "a number");
  }
}

std::optional<nlohmann::json> read_routing_profile(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / pf::kFile).string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  if (!fs::is_regular_file(path, ec)) throw std::runtime_error(path + ": not a regular file");
  nlohmann::json j = parse_json_guarded(read_file(path), path);
  check_routing_profile(j, path);
  return j;
}

std::string render_routing_profile(const nlohmann::json& j, int tokens_per_expert) {
  std::ostringstream o;
  char line[512];
  const auto& corpora = j[pf::kCorpora];
  o << "routing over " << corpora.size() << (corpora.size() == 1 ? " corpus" : " corpora") << ":";
  for (size_t c = 0; c < corpora.size(); ++c)
    o << (c ? "," : "") << " [" << c << "] " << corpora[c][pf::kName].get<std::string>() << " ("
      << corpora[c][pf::kTokens].get<int64_t>() << " tokens)";
  o << "\n";
  if (j.contains(pf::kTokensPerExpert) && j[pf::kTokensPerExpert].is_object()) {
    const auto& t = j[pf::kTokensPerExpert];
    std::snprintf(line, sizeof line,
                  "tokens/expert, all layers: p50 %.0f p90 %.0f p99 %.0f min %.0f max %.0f CV %.3f\n", num(t, "p50"),
                  num(t, "p90"), num(t, "p99"), num(t, "min"), num(t, "max"), num(t, "cv"));
    o << line;
  }
  std::snprintf(line, sizeof line, "%-6s %8s %7s %8s %-30s %s\n", "layer", "entropy", "N_eff", "MaxVio",
                "tokens/expert p50/p90/p99 CV", "dead (no token of the corpus)");
  o << line;
  for (const auto& l : j[pf::kLayers]) {
    const auto& t = l.contains(pf::kTokensPerExpert) && l[pf::kTokensPerExpert].is_object() ? l[pf::kTokensPerExpert]
                                                                                            : nlohmann::json::object();
    char tpe[64];
    std::snprintf(tpe, sizeof tpe, "%.0f/%.0f/%.0f %.3f", num(t, "p50"), num(t, "p90"), num(t, "p99"), num(t, "cv"));
    std::string dead;
    for (const auto& d : l[pf::kDead]) dead += (dead.empty() ? "" : ",") + std::to_string(d.get<int64_t>());
    std::snprintf(line, sizeof line, "%-6lld %8.3f %7.2f %8.3f %-30s %s\n",
                  static_cast<long long>(l[pf::kLayer].get<int64_t>()), num(l, pf::kEntropyNorm), num(l, pf::kNEff),
                  num(l, pf::kMaxVioGlobal), tpe, dead.empty() ? "-" : dead.c_str());
    o << line;
  }
  if (!j[pf::kAgreement].empty()) {
    o << "layer-to-layer routing agreement (mutual information of the chosen experts):\n";
    for (const auto& a : j[pf::kAgreement]) {
      std::snprintf(line, sizeof line, "  layer %lld -> %lld: MI %.4f nats, NMI %.4f\n",
                    static_cast<long long>(a[pf::kFrom].get<int64_t>()),
                    static_cast<long long>(a[pf::kTo].get<int64_t>()), a[pf::kMi].get<double>(),
                    a[pf::kNmi].get<double>());
      o << line;
    }
  }
  if (corpora.size() >= 2) {
    o << "most specialised experts (specialisation: 0 = same share of every corpus, 1 = one corpus only):\n";
    for (const auto& l : j[pf::kLayers]) {
      std::vector<std::pair<double, size_t>> s;
      for (size_t e = 0; e < l[pf::kSpecialisation].size(); ++e)
        if (l[pf::kSpecialisation][e].is_number()) s.push_back({l[pf::kSpecialisation][e].get<double>(), e});
      std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      o << "  layer " << l[pf::kLayer].get<int64_t>() << ":";
      for (size_t r = 0; r < std::min<size_t>(3, s.size()); ++r) {
        const size_t e = s[r].second;
        std::snprintf(line, sizeof line, " expert %zu %.3f (shares", e, s[r].first);
        o << (r ? ";" : "") << line;
        for (size_t c = 0; c < corpora.size(); ++c) {
          std::snprintf(line, sizeof line, " %.4f", l[pf::kCorpusShare][c][e].get<double>());
          o << line;
        }
        o << ")";
      }
      o << "\n";
    }
  }
  if (tokens_per_expert > 0) {
    o << "most frequent tokens per expert (share of the expert's tokens):\n";
    for (const auto& l : j[pf::kLayers]) {
      o << "  layer " << l[pf::kLayer].get<int64_t>() << "\n";
      for (size_t e = 0; e < l[pf::kTopTokens].size(); ++e) {
        o << "    expert " << e << ":";
        const auto& list = l[pf::kTopTokens][e];
        for (size_t r = 0; r < std::min<size_t>(static_cast<size_t>(tokens_per_expert), list.size()); ++r) {
          std::snprintf(line, sizeof line, " %.1f%%", 100.0 * list[r][pf::kShare].get<double>());
          o << " " << quoted(list[r][pf::kText].get<std::string>()) << line;
        }
        if (list.empty()) o << " (none)";
        o << "\n";
      }
    }
  }
  return o.str();
}

}  // namespace moescope
