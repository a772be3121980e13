// run_start.h: opening a run directory to train (a new run or a resume): the checks and
// clean-up the trainer does before a run starts: what --resume may change, whether the data
// splits hold a window, and the temp files a killed write left. The directory's layout and
// config.json are run/run_dir.h; loading a run for use is train/loaded_run.h.
#pragma once
#include <ostream>
#include <string>

#include "core/config.h"
#include "data/dataset.h"

namespace moescope {

// What --resume may change: train.* (schedule, limits, logging), scope.* (the microscope
// observes and acts through the router knobs, which the checkpoint holds, so it may be turned on
// for an existing run, e.g. --set scope.remediate=true) and compress.* (not used by training).
// model.*, attn.*, moe.* and data.* must equal the saved ones (model.vocab_size is derived).
bool may_change_on_resume(const std::string& key);
// Throws std::invalid_argument naming the first key that differs and may not change.
void check_resume_compatible(Config& requested, Config& saved);

// What --out holds for this start. A new run: no run there (else throws: pass --resume or
// choose another --out). A resume: the saved config must be compatible (check_resume_compatible)
// and cfg takes its vocab_size; a run stopped before its first checkpoint starts again at step 0.
struct RunDirStart {
  bool from_scratch = false;        // --resume of a run with no checkpoint yet
  double saved_router_lr_mult = 0;  // the saved train.router_lr_mult (cfg's own for a new run)
};
RunDirStart open_run_dir(const std::string& run_dir, bool resume, Config& cfg, std::ostream& log);
// The validation split must hold one window, the train split one window plus a token.
void check_splits(const Dataset& d, const Config& c);
// Temp directories and files left by a process killed while writing (checkpoints/.latest.tmp-PID,
// config.json.tmp.PID, ...): nothing reads them, the next write would use other names.
void remove_stale_temps(const std::string& run_dir, std::ostream& log);

}  // namespace moescope
