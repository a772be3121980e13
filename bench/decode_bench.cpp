// decode_bench.cpp: single-stream decoding speed (tokens/s) of `generate`, same process, on the
// demo and shakespeare presets (random weights: speed does not depend on what was learned;
// vocab 256), 1 and all threads. Columns, each the best of --reps runs of 200 new greedy
// tokens (temperature 0) after an 8-token prompt:
//   fast      the single-token path (model/decode_step.h; fp32, its own KV cache): what
//             `generate` runs by default on the CPU
//   torch32   model->forward with the KV cache, fp32
//   torch16   model->forward with the KV cache, bf16
//   nocache   model->forward over the whole context each token, fp32 (--cache-only skips it)
// and the ratios fast/torch32 and fast/torch16 (same process, interleaved per cell). Also checks
// that the greedy text of fast, torch32 (and nocache) is identical.
// Usage: decode_bench [--tokens 200] [--configs demo,shakespeare] [--threads 1,2] [--reps 3]
//                     [--cache-only] [--fast-only] (--fast-only: the fast column alone, for profiling)
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench_args.h"
#include "core/config.h"
#include "ops/runtime.h"
#include "train/generate.h"

using namespace moescope;

int main(int argc, char** argv) {
  init_process(argc, argv);
  int64_t tokens = 200;
  int reps = 3;
  bool cache_only = false, fast_only = false;
  std::vector<std::string> configs = {"demo", "shakespeare"};
  std::vector<std::string> threads = {"1", std::to_string(std::max(1u, std::thread::hardware_concurrency()))};
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--cache-only") {
      cache_only = true;
      --i;
      continue;
    }
    if (k == "--fast-only") {
      fast_only = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << k << " needs a value\n";
      return 2;
    }
    const std::string v = argv[i + 1];
    if (k == "--reps") reps = std::stoi(v);
    else if (k == "--tokens") tokens = std::stoll(v);
    else if (k == "--configs") configs = bench::split_list(v);
    else if (k == "--threads") threads = bench::split_list(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  struct Column {
    const char* name;
    DType dtype;
    bool fast, cache;
  };
  std::vector<Column> cols = {{"fast", DType::kFp32, true, true}};
  if (!fast_only) {
    cols.push_back({"torch32", DType::kFp32, false, true});
    cols.push_back({"torch16", DType::kBf16, false, true});
    if (!cache_only) cols.push_back({"nocache", DType::kFp32, false, false});
  }
  std::printf("%-12s %-7s", "config", "threads");
  for (const auto& c : cols) std::printf(" %9s", c.name);
  std::printf(" %13s %13s  %s\n", "fast/torch32", "fast/torch16", "greedy text identical (fast, torch32, nocache)");
  for (const auto& name : configs) {
    Config cfg = load_config(std::string(MOESCOPE_SOURCE_DIR) + "/configs/" + name + ".toml", {"model.vocab_size=256"});
    torch::manual_seed(1);
    Transformer model(cfg.model);
    model->eval();
    const std::vector<int32_t> prompt = {84, 104, 101, 32, 106, 117, 114, 121};  // "The jury"
    for (const auto& th : threads) {
      set_compute_threads(std::stoi(th));
      std::vector<double> best(cols.size(), 0.0);
      std::vector<std::vector<int32_t>> text(cols.size());
      std::string how;
      for (int rep = 0; rep < reps; ++rep) {
        for (size_t c = 0; c < cols.size(); ++c) {  // interleaved: a busy moment hits every column alike
          SampleOptions o;
          o.max_new_tokens = tokens;
          o.temperature = 0;
          o.use_cache = cols[c].cache;
          o.dtype = cols[c].dtype;
          o.fast_path = cols[c].fast;
          auto r = generate(model, prompt, o, torch::kCPU);
          if (cols[c].fast != r.how.fast) {
            std::cerr << name << ": column " << cols[c].name << " ran " << r.how.reason << "\n";
            return 1;
          }
          best[c] = std::max(best[c], r.tokens_per_s);
          text[c] = r.tokens;
        }
      }
      std::printf("%-12s %-7s", name.c_str(), th.c_str());
      for (double b : best) std::printf(" %9.0f", b);
      if (fast_only) {
        std::printf(" %13s %13s  -\n", "-", "-");
      } else {
        bool same = text[0] == text[1];
        std::string which = same ? "yes" : "NO (fast vs torch32)";
        if (!cache_only && text[1] != text[3]) which += ", NO (torch32 vs nocache)";
        std::printf(" %12.2fx %12.2fx  %s\n", best[0] / best[1], best[0] / best[2], which.c_str());
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
