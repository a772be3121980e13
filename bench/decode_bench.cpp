// decode_bench.cpp: single-stream decoding speed (tokens/s) of `generate`, with and without the
// KV cache, same process, on the demo and shakespeare presets (random weights: speed does not
// depend on what was learned; vocab 256). 1 and all threads. Prompt of 8 tokens, 200 new tokens
// greedy (temperature 0), best of 3 runs per cell. Also checks that cached and uncached greedy
// text are identical in the compute dtype given (fp32 by default).
// Usage: decode_bench [--tokens 200] [--dtype fp32|bf16] [--configs demo,shakespeare] [--threads 1,2]
//                     [--reps 3] [--cache-only] (--cache-only: for profiling the cached path alone)
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench_args.h"
#include "core/config.h"
#include "ops/runtime.h"
#include "train/generate.h"
#include "train/run_dir.h"

using namespace moescope;

int main(int argc, char** argv) {
  init_process(argc, argv);
  int64_t tokens = 200;
  std::string dtype = "fp32";
  int reps = 3;
  bool cache_only = false;
  std::vector<std::string> configs = {"demo", "shakespeare"};
  std::vector<std::string> threads = {"1", std::to_string(std::max(1u, std::thread::hardware_concurrency()))};
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--cache-only") { cache_only = true; --i; continue; }
    if (i + 1 >= argc) { std::cerr << k << " needs a value\n"; return 2; }
    const std::string v = argv[i + 1];
    if (k == "--reps") reps = std::stoi(v);
    else if (k == "--tokens") tokens = std::stoll(v);
    else if (k == "--dtype") dtype = v;
    else if (k == "--configs") configs = bench::split_list(v);
    else if (k == "--threads") threads = bench::split_list(v);
    else { std::cerr << "unknown option " << k << "\n"; return 2; }
  }
  std::printf("%-12s %-5s %-7s %12s %12s %8s %s\n", "config", "dtype", "threads", "cache tok/s", "nocache tok/s",
              "ratio", "greedy cached == uncached");
  for (const auto& name : configs) {
    Config cfg = load_config(std::string(MOESCOPE_SOURCE_DIR) + "/configs/" + name + ".toml", {"model.vocab_size=256"});
    torch::manual_seed(1);
    Transformer model(cfg.model);
    model->compute_dtype = compute_dtype(parse_enum_or_throw<DType>("--dtype", dtype));
    model->eval();
    std::vector<int32_t> prompt = {84, 104, 101, 32, 106, 117, 114, 121};  // "The jury"
    for (const auto& th : threads) {
      set_compute_threads(std::stoi(th));
      double best[2] = {0, 0};
      std::vector<int32_t> text[2];
      for (int cache = cache_only ? 1 : 0; cache < 2; ++cache) {
        SampleOptions o;
        o.max_new_tokens = tokens;
        o.temperature = 0;
        o.use_cache = cache == 1;
        for (int rep = 0; rep < reps; ++rep) {
          auto r = generate(model, prompt, o, torch::kCPU);
          best[cache] = std::max(best[cache], r.tokens_per_s);
          text[cache] = r.tokens;
        }
      }
      std::printf("%-12s %-5s %-7s %12.0f %12.0f %7.1fx %s\n", name.c_str(), dtype.c_str(), th.c_str(), best[1], best[0],
                  cache_only ? 0.0 : best[1] / best[0],
                  cache_only ? "-" : text[0] == text[1] ? "yes" : "NO");
      std::fflush(stdout);
    }
  }
  return 0;
}
