// run_index.cpp: incremental indexing of a run's logs (see run_index.h).
#include "dashboard/run_index.h"

#include <cmath>
#include <stdexcept>

#include "run/log_fields.h"
#include "run/log_record.h"
#include "run/run_dir.h"

namespace moescope::dashboard {
namespace f = log_field;
namespace {

bool is_real_number(const nlohmann::json& v) { return v.is_number() && !v.is_boolean(); }

// Record-level numbers except the bookkeeping keys.
void set_scalars(SeriesTable& table, const nlohmann::json& rec, const std::string& entity) {
  for (auto it = rec.begin(); it != rec.end(); ++it) {
    const std::string& k = it.key();
    if (k == f::kSchema || k == f::kStep || k == f::kLayer) continue;
    if (is_real_number(*it)) table.set(k, entity, it->get<double>());
    // One level of named numbers ("tokens_per_expert": {"p50": ...}) becomes tokens_per_expert_p50.
    if (k == f::kTokensPerExpert && it->is_object())
      for (auto in = it->begin(); in != it->end(); ++in)
        if (is_real_number(*in)) table.set(k + "_" + in.key(), entity, in->get<double>());
  }
}

}  // namespace

RunIndex::RunIndex(std::string run_dir, RunIndexConfig cfg)
    : dir_(std::move(run_dir)),
      cfg_(cfg),
      metrics_tail_(metrics_path(dir_), cfg_.confine_to),
      alerts_tail_(alerts_path(dir_), cfg_.confine_to) {}

std::string RunIndex::kind() const {
  if (train_.rows() || eval_.rows() || !remediations_.empty()) return "train";
  if (compress_.rows() || !compress_summary_.is_null()) return "compress";
  return "empty";
}

void RunIndex::reset() {
  train_ = eval_ = compress_ = SeriesTable();
  train_lines_.clear();
  coact_rows_.clear();
  layers_.clear();
  layer_set_.clear();
  experts_ = 0;
  remediations_.clear();
  compress_summary_ = nullptr;
  records_ = 0;
}

RunIndex::UpdateResult RunIndex::update() {
  std::lock_guard<std::mutex> serial(update_mu_);
  UpdateResult r;
  if (reindex_.exchange(false)) metrics_tail_.rewind();
  TailPoll m = metrics_tail_.poll(cfg_.max_bytes_per_update);  // parsed without blocking readers
  TailPoll a = alerts_tail_.poll(cfg_.max_bytes_per_update);
  r.restarted = m.restarted || a.restarted;
  r.more = m.more || a.more;
  r.warnings = std::move(m.warnings);
  r.warnings.insert(r.warnings.end(), a.warnings.begin(), a.warnings.end());
  if (!r.restarted && m.lines.empty() && a.lines.empty() && r.warnings.empty()) return r;

  std::unique_lock lock(mu_);
  if (m.restarted) reset();
  if (a.restarted) alerts_.clear();
  for (const TailLine& line : m.lines) ingest(line, r.warnings);
  for (const TailLine& line : a.lines) alerts_.push_back(line.record);
  r.new_records = m.lines.size() + a.lines.size();
  records_ += m.lines.size();
  warning_count_ += r.warnings.size();
  for (const std::string& w : r.warnings) {
    if (warnings_.size() >= cfg_.max_kept_warnings) warnings_.erase(warnings_.begin());
    warnings_.push_back(w);
  }
  ++version_;
  return r;
}

void RunIndex::update_all() {
  while (update().more) {
  }
}

void RunIndex::ingest(const TailLine& line, std::vector<std::string>& warnings) {
  const nlohmann::json& rec = line.record;
  auto where = [&] { return log_where(metrics_tail_.path(), size_t(line.line)); };
  if (rec.contains(f::kType) && !rec[f::kType].is_string()) {
    warnings.push_back(field_type_error(where(), f::kType, "a string", rec[f::kType]) + "; record skipped");
    return;
  }
  const std::string type = rec.value(f::kType, "");
  if (type == f::kCompressSummary) {
    compress_summary_ = rec;
    return;
  }
  if (type == f::kRemediation) {
    remediations_.push_back(rec);
    return;
  }
  if (type != f::kTrain && type != f::kEval && type != f::kCompress) {
    warnings.push_back(where() + ": skipped record of unknown type '" + type + "'");
    return;
  }
  if (!rec.contains(f::kStep)) {
    warnings.push_back(where() + ": skipped " + type + " record without a step");
    return;
  }
  if (!is_real_number(rec[f::kStep]) || !std::isfinite(rec[f::kStep].get<double>())) {
    warnings.push_back(field_type_error(where(), f::kStep, "a number", rec[f::kStep]) + "; " + type +
                       " record skipped");
    return;
  }
  const double step = rec[f::kStep].get<double>();
  SeriesTable& table = type == f::kTrain ? train_ : type == f::kEval ? eval_ : compress_;
  if (table.rows() && step < table.steps().back()) {
    warnings.push_back(where() + ": skipped " + type + " record whose step " + std::to_string(int64_t(step)) +
                       " goes backwards");
    return;
  }
  if (type == f::kTrain) return ingest_train(line);
  table.add_row(step);
  set_scalars(table, rec, "");
  if (type == f::kEval && rec.contains(f::kMoe)) ingest_layers(table, rec[f::kMoe]);
  if (type == f::kCompress && rec.contains(f::kGroups) && rec[f::kGroups].is_array())
    for (const auto& g : rec[f::kGroups])
      if (g.is_object() && g.contains(f::kGroup) && g[f::kGroup].is_string())
        set_scalars(table, g, g[f::kGroup].get<std::string>());
}

void RunIndex::ingest_layers(SeriesTable& table, const nlohmann::json& moe) {
  if (!moe.is_array()) return;
  for (const auto& l : moe) {
    if (!l.is_object() || !l.contains(f::kLayer) || !l[f::kLayer].is_number_integer()) continue;
    const int layer = l[f::kLayer].get<int>();
    const std::string id = std::to_string(layer);
    set_scalars(table, l, id);
    if (layer_set_.insert(layer).second) {
      layers_.assign(layer_set_.begin(), layer_set_.end());
    }
    if (l.contains(f::kLoad) && l[f::kLoad].is_array()) experts_ = std::max(experts_, int(l[f::kLoad].size()));
    if (l.contains(f::kDead) && l[f::kDead].is_array()) table.set("dead_count", id, double(l[f::kDead].size()));
  }
}

void RunIndex::ingest_train(const TailLine& line) {
  const nlohmann::json& rec = line.record;
  train_.add_row(rec[f::kStep].get<double>());
  train_lines_.push_back({line.offset, line.length});
  set_scalars(train_, rec, "");
  if (rec.contains(f::kMoeSummary) && rec[f::kMoeSummary].is_object()) set_scalars(train_, rec[f::kMoeSummary], "");
  if (!rec.contains(f::kMoe)) return;
  ingest_layers(train_, rec[f::kMoe]);
  bool coact = false;
  for (const auto& l : rec[f::kMoe]) coact = coact || (l.is_object() && l.contains(f::kCoactivation));
  if (coact) coact_rows_.push_back(train_.rows() - 1);
  if (rec.contains(f::kSaturation) && rec[f::kSaturation].is_array())
    for (const auto& s : rec[f::kSaturation]) {
      if (!s.is_object() || !s.contains(f::kLayer) || !s[f::kLayer].is_number_integer()) continue;
      const std::string id = std::to_string(s[f::kLayer].get<int>());
      for (auto it = s.begin(); it != s.end(); ++it)
        if (it.key() != f::kLayer && is_real_number(*it)) train_.set("saturation_" + it.key(), id, it->get<double>());
    }
}

nlohmann::json RunIndex::record_at(size_t row) const {
  if (row >= train_lines_.size()) throw std::out_of_range("train record " + std::to_string(row) + " does not exist");
  nlohmann::json rec =
      read_line_at(metrics_tail_.path(), train_lines_[row].offset, train_lines_[row].length, cfg_.confine_to);
  const auto step = rec.find(f::kStep);
  if (rec.value(f::kType, "") != f::kTrain || step == rec.end() || !is_real_number(*step) ||
      step->get<double>() != train_.steps()[row])
    throw std::runtime_error("'" + metrics_tail_.path() + "': the line at byte " +
                             std::to_string(train_lines_[row].offset) + " is no longer the train record of step " +
                             std::to_string(int64_t(train_.steps()[row])));
  return rec;
}

}  // namespace moescope::dashboard
