// dtype_choice.h: resolves train.dtype (auto, bf16, fp32) once, at the start of a run,
// for the run's device: logs the choice with its reason, and warns once per process, with
// the slowdown measured on this CPU, when bf16 was asked for on hardware that emulates it.
#pragma once
#include <ostream>
#include <string>

#include "core/config_enums.h"

namespace moescope {

// Returns kBf16 or kFp32. device: the resolved device ("cpu" or "cuda").
DType resolve_train_dtype(DType requested, const std::string& device, std::ostream& log);

}  // namespace moescope
