// run_start.cpp: see run_start.h.
#include "train/run_start.h"

#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/remove_tree.h"
#include "run/run_dir.h"
#include "train/checkpoint.h"

namespace moescope {
namespace fs = std::filesystem;

bool may_change_on_resume(const std::string& key) {
  for (const char* section : {"train.", "scope.", "compress."})
    if (key.rfind(section, 0) == 0) return true;
  return key == "model.vocab_size";
}

void check_resume_compatible(Config& requested, Config& saved) {
  auto a = requested.fields();
  const nlohmann::json ja = a.to_json(), jb = saved.fields().to_json();
  for (const auto& k : a.keys()) {
    if (may_change_on_resume(k)) continue;
    auto ptr = nlohmann::json::json_pointer("/" + std::string(k).replace(k.find('.'), 1, "/"));
    if (ja.at(ptr) != jb.at(ptr))
      throw std::invalid_argument("--resume: config key '" + k + "' is " + ja.at(ptr).dump() +
                                  " but the run was started with " + jb.at(ptr).dump() +
                                  " (only train.*, scope.* and compress.* may change on resume)");
  }
}

void check_splits(const Dataset& d, const Config& c) {
  const int64_t S = c.train.seq_len;
  const std::string fix = ": lower train.seq_len, raise data.val_fraction (now " + std::to_string(c.data.val_fraction) +
                          ") or use a larger corpus";
  if (d.n_val_windows(S) < 1)
    throw std::runtime_error("the validation split holds " + std::to_string(d.val_size()) +
                             " tokens, fewer than train.seq_len + 1 = " + std::to_string(S + 1) + fix);
  if (d.train_size() < S + 1)
    throw std::runtime_error("the train split holds " + std::to_string(d.train_size()) +
                             " tokens, fewer than train.seq_len + 1 = " + std::to_string(S + 1) + fix);
}

void remove_stale_temps(const std::string& run_dir, std::ostream& log) {
  std::error_code ec;
  for (const fs::path& dir : {fs::path(run_dir), fs::path(latest_dir(run_dir)).parent_path()}) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      const bool ckpt_tmp = name.front() == '.' && name.find(".tmp-") != std::string::npos;
      const bool file_tmp = name.find(".tmp.") != std::string::npos && !e.is_directory(ec);
      if (!ckpt_tmp && !file_tmp) continue;
      log << "removing " << e.path().string() << " (left by an interrupted write)\n";
      remove_tree(e.path().string());
    }
  }
}

RunDirStart open_run_dir(const std::string& run_dir, bool resume, Config& cfg, std::ostream& log) {
  RunDirStart out;
  out.saved_router_lr_mult = cfg.train.router_lr_mult;
  if (resume) {
    Config saved = read_run_config(run_dir);
    check_resume_compatible(cfg, saved);
    out.saved_router_lr_mult = saved.train.router_lr_mult;
    cfg.model.vocab_size = saved.model.vocab_size;
    if (find_checkpoint(latest_dir(run_dir)).empty()) {
      // A checkpoint directory is only ever renamed into place whole, so one that exists without
      // its weights was damaged after the fact: refuse rather than redo the run over its log.
      std::string damaged;
      for (const std::string& d : {latest_dir(run_dir), best_dir(run_dir)}) {
        std::error_code ec;
        if (!fs::is_directory(d, ec) || !find_checkpoint(d).empty()) continue;
        std::string held;
        for (const auto& e : fs::directory_iterator(d, ec))
          held += (held.empty() ? "" : ", ") + e.path().filename().string();
        damaged += "\n  " + d + ": no model.safetensors (holds: " + (held.empty() ? "nothing" : held) + ")";
      }
      if (!damaged.empty())
        throw std::runtime_error(run_dir + ": the run wrote checkpoints but none can be read:" + damaged +
                                 "\nRefusing to resume: it would start again from step 0 and rewrite metrics.jsonl. "
                                 "Restore the checkpoint files, or, to start the run over, remove " +
                                 fs::path(latest_dir(run_dir)).parent_path().string() + " and resume again.");
      out.from_scratch = true;
      log << run_dir << ": no checkpoint yet (the run stopped before its first one): starting it again from step 0\n";
    }
  } else if (!find_checkpoint(latest_dir(run_dir)).empty() || fs::exists(config_path(run_dir))) {
    throw std::runtime_error(run_dir +
                             " already holds a run: pass --resume to continue it (also when it stopped "
                             "before its first checkpoint), or choose another --out");
  }
  return out;
}

}  // namespace moescope
