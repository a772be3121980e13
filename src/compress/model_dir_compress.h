// model_dir_compress.h: `moescope compress --model DIR --out OUT`: MoBE compression of a Hugging
// Face model directory, streamed one bank at a time, without building the model.
//
// For scope "layer" the banks are (MoE layer, family) in layer order, gate before up. Each bank's
// routed-expert matrices are read from the memory-mapped safetensors one expert at a time into a
// float64 [E, P, D] tensor (the solvers work in float64), the mapped pages released after each
// copy (MappedSafetensors::release), z-scored (build_groups), initialised and solved with the
// same calls as compress_model (the same seed per bank index, so the result equals the in-memory
// compression of the same model when the stop rules do not couple banks: plateau_iters = 0 or
// never reached), written to its own factor file, and freed. Peak memory is therefore about one
// bank's experts twice in float64 (the matrices and their z-scores while normalising) plus the
// solver's temporaries of that size, never the model.
// Scope "global" needs every layer's experts of a family in one bank: it runs in memory, one
// family at a time, and is refused (naming the bytes) when that bank in float64 would exceed half
// of the available memory.
// The output directory's format: compress/mobe_dir.h. Parameter counts come from the files'
// tensor headers ("model" = every tensor but FP8 scale blocks).
#pragma once
#include <functional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "compress/compressor.h"
#include "io/jsonl.h"

namespace moescope::compress {

struct ModelDirOptions {
  RestartOptions restarts;
  // Routing-aware objective (compress --weight-by, routing_weights.h), floored at
  // cfg.weight_floor; checked against the source's MoE layers before anything is written.
  const RoutingCounts* weight_by = nullptr;
  // Called with "read TENSOR" for every expert matrix read and "solved BANK" after each bank
  // is written (tests check that one bank's experts are read, then solved, then the next).
  std::function<void(const std::string&)> trace;
};

// The budget of compressing DIR with cfg (no weights read). Throws std::invalid_argument or
// std::runtime_error naming the problem: not a model directory, already compressed, no MoE layers.
CompressionSizes plan_model_dir(const std::string& dir, const CompressConfig& cfg);

// Compresses DIR into OUT (which must not exist or be empty). Returns the "compress_summary"
// record (also written to OUT/metrics.jsonl), with peak_rss_bytes (VmHWM), disk_bytes_before /
// disk_bytes_after and per-bank seconds.
nlohmann::json compress_model_dir(const std::string& dir, const std::string& out, const CompressConfig& cfg,
                                  std::ostream& log, const ModelDirOptions& opt = {});

// Bytes of the regular files directly in DIR.
uint64_t directory_bytes(const std::string& dir);

}  // namespace moescope::compress
