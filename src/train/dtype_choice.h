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

// The compute dtype of a batch forward (`eval`, `scope --model`): matmul work like a training
// step, so `auto` takes train.dtype auto's hardware rule (core/precision.h, with the measured
// bf16 speedup kept per machine), resolved here for this device, not the run's saved
// train.dtype (what training chose, maybe on another machine); fp32 / bf16 as set. Logs one
// line, "<what>: compute dtype <dt> (<reason>)". Decoding chooses its own (train/generate.h).
DType resolve_batch_dtype(DType requested, const std::string& device, const std::string& what, std::ostream& log);

}  // namespace moescope
