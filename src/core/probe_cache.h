// probe_cache.h: measured machine facts kept between runs, so that a choice made from a timing
// (train.dtype = auto: is a bf16 matmul faster than fp32 here?) does not flip from one run to the
// next because the machine happened to be busy during one start.
//
// One small versioned JSON file per user:
//   $MOESCOPE_CACHE/probes.json, else $XDG_CACHE_HOME/moescope/probes.json, else
//   ~/.cache/moescope/probes.json (the cache directory scripts/python_env.sh uses)
//   {"version": 1, "entries": {"<key>": {"value": 3.21, "samples": [3.2, 3.21, 3.19]}}}
// A key names what was measured and the machine it holds for, e.g.
//   "bf16_speedup|AMD EPYC 9R14|torch 1.13.1|threads 2" (probe_key): another CPU model, LibTorch
// or thread count is another key, measured afresh; a file of another version is ignored.
// A file that does not parse (or an entry that is not a number) is reported as a warning and
// treated as empty; the next store rewrites it (write to a temporary file, then rename). Failing
// to write (read-only home) is a warning too: the measurement is still used for this run.
// Torch-free; the measurement itself is the caller's (ops/device_info.h).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace moescope {

constexpr int kProbeCacheVersion = 1;

// The file: env MOESCOPE_CACHE, XDG_CACHE_HOME, HOME as above; "" when none is set.
std::string default_probe_cache_path();

// "<what>|<cpu model>|torch <version>|threads <n>".
std::string probe_key(const std::string& what, const std::string& cpu_model, const std::string& torch_version,
                      int threads);

struct ProbeLookup {
  std::optional<double> value;  // the stored value for the key
  std::string warning;          // non-empty when the file exists but could not be used
};
// path "" -> nothing stored.
ProbeLookup probe_cache_get(const std::string& path, const std::string& key);
// Stores (replacing) key -> value with the samples it came from; keeps the file's other entries
// when it is readable. Returns "" or a warning.
std::string probe_cache_put(const std::string& path, const std::string& key, double value,
                            const std::vector<double>& samples);

}  // namespace moescope
