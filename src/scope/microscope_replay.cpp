// microscope_replay.cpp: Microscope::on_resume (scope/microscope.h): a resumed run's log replayed
// up to the checkpoint's step, so that the detector, the remediation ladder and (for a run whose
// checkpoint does not hold them) the router knobs are where the run left them.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

#include "io/jsonl.h"
#include "routing/metrics.h"
#include "run/log_fields.h"
#include "run/log_record.h"
#include "run/run_dir.h"
#include "scope/microscope.h"

namespace moescope {
namespace f = log_field;

void Microscope::on_resume(int64_t step) {
  if (!writer_) {  // rank 0 replays the log; its resulting state reaches this rank by broadcast
    share_interval_counter();
    reset_interval();
    return;
  }
  log_->truncate_alerts_after(step);
  const std::string path = metrics_path(ctx_.run_dir);
  auto log = read_jsonl(path);
  // The replay must see the log as written: a record of the wrong shape is an error naming its
  // line, field and expected type (log_record.h), not nlohmann's bare type_error.
  std::map<std::pair<int64_t, int64_t>, std::vector<nlohmann::json>> events;  // (step, layer) -> actions
  for (size_t i = 0; i < log.records.size(); ++i) {
    const nlohmann::json& r = log.records[i];
    const std::string where = log_where(path, log.line_numbers[i]);
    if (string_field(r, f::kType, where).value_or("") != f::kRemediation) continue;
    const int64_t s = require_integer(r, f::kStep, where);
    if (s > step) continue;
    string_field(r, f::kAction, where);
    number_field(r, f::kTo, where);
    events[{s, require_integer(r, f::kLayer, where)}].push_back(r);
  }
  const std::vector<nlohmann::json> none;
  for (size_t i = 0; i < log.records.size(); ++i) {
    const nlohmann::json& r = log.records[i];
    const std::string where = log_where(path, log.line_numbers[i]);
    if (string_field(r, f::kType, where).value_or("") != f::kTrain) continue;
    const nlohmann::json* moe_entries = array_field(r, f::kMoe, where);
    if (!moe_entries) continue;
    const int64_t s = require_integer(r, f::kStep, where);
    if (s > step) continue;
    for (auto& l : *moe_entries) {
      if (!l.is_object() || !l.contains(f::kCounts) || !l.contains(f::kLayer)) continue;
      const int64_t L = require_integer(l, f::kLayer, where);
      const nlohmann::json& counts = *array_field(l, f::kCounts, where);
      for (const auto& c : counts)
        if (!c.is_number_integer())
          throw std::runtime_error(field_type_error(where, "moe[].counts[]", "an integer", c));
      auto at = std::find(layer_index_.begin(), layer_index_.end(), L);
      if (at == layer_index_.end())
        throw std::runtime_error(metrics_path(ctx_.run_dir) + ": step " + std::to_string(s) + " logs MoE layer " +
                                 std::to_string(L) + ", which this model does not have");
      const size_t idx = static_cast<size_t>(at - layer_index_.begin());
      log_->detector().observe(
          s, L, load_metrics(counts.get<std::vector<int64_t>>(), moe_[idx]->cfg().top_k),
          {number_field(l, f::kMaxVioBatch, where).value_or(0.0), number_field(l, f::kDropRate, where).value_or(0.0)});
      auto ev = events.find({s, L});
      try {
        remediator_.replay_interval(L, ev == events.end() ? none : ev->second, *moe_[idx],
                                    /*restore_knobs=*/!ctx_.knobs_in_checkpoint);
      } catch (const nlohmann::json::exception& e) {  // e.g. a remediation record without "to"
        throw std::runtime_error(path + ": remediation record for step " + std::to_string(s) + ", layer " +
                                 std::to_string(L) + " is malformed: " + e.what());
      }
    }
    ++interval_;
  }
  share_interval_counter();
  reset_interval();
}

}  // namespace moescope
