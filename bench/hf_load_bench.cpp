// hf_load_bench.cpp: loading a Hugging Face MoE checkpoint larger than half of RAM, memory-mapped.
//
// Writes a synthetic OLMoE-shaped model directory on the fly (default: d 2048, 16 layers, 64
// experts of hidden 1024, top-8, vocab 50304, BF16: 6.9 B parameters, ~13.8 GB on disk, one
// shard per layer plus one for embeddings/head, with model.safetensors.index.json; random
// weights, uniform with std 0.02; the tokenizer is the olmoe test fixture's), then, in a fresh
// child process (so its peak RSS is its own):
//   1. load_model_dir(--weights mapped): wall time, VmHWM, RssAnon and RssFile afterwards;
//   2. forward passes over --tokens tokens of TinyShakespeare: the first (which faults every
//      expert page in) and the steady state, tokens/s, and the achieved FLOP/s as a share of a
//      bf16 and an fp32 matmul peak measured in the same process; VmHWM, RssAnon, RssFile after.
// The directory is deleted at the end (--keep keeps it). Resident file pages are page cache:
// the OS can drop them under pressure and re-read them, which anonymous memory cannot.
//
//   hf_load_bench [--dir /tmp/moescope-olmoe-synth] [--layers 16] [--experts 64] [--d 2048]
//                 [--ffn 1024] [--vocab 50304] [--tokens 256] [--keep]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/remove_tree.h"
#include "core/host_memory.h"
#include "ops/runtime.h"
#include "train/hf_model_dir.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Shape {
  int64_t d = 2048, layers = 16, experts = 64, ffn = 1024, vocab = 50304, heads = 16, top_k = 8;
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// A memory field of /proc/self/status, in GiB.
double status_gib(const std::string& field) { return moescope::process_status_bytes(field) / 1073741824.0; }
std::string memory_line() {
  char b[160];
  std::snprintf(b, sizeof b, "VmHWM %.2f GiB, RssAnon %.2f GiB, RssFile %.2f GiB", status_gib("VmHWM"),
                status_gib("RssAnon"), status_gib("RssFile"));
  return b;
}

// fp32 -> bf16 by rounding to nearest even.
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

// One safetensors file of BF16 tensors (name -> shape), streamed: header, then each tensor's
// values drawn in 4 MiB chunks (norm weights are ones).
void write_shard(const fs::path& path, const std::map<std::string, std::vector<int64_t>>& tensors, uint64_t* seed) {
  json h = json::object();
  uint64_t off = 0;
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 2;
    for (auto s : shape) n *= static_cast<uint64_t>(s);
    h[name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  h["__metadata__"] = {{"format", "pt"}};
  std::string hdr = h.dump();
  while ((8 + hdr.size()) % 8) hdr.push_back(' ');
  std::ofstream f(path, std::ios::binary);
  const uint64_t hn = hdr.size();
  f.write(reinterpret_cast<const char*>(&hn), 8);
  f.write(hdr.data(), static_cast<std::streamsize>(hdr.size()));
  const float a = 0.02f * std::sqrt(3.0f);  // uniform(-a, a) has std 0.02
  std::vector<uint16_t> buf(1 << 21);
  for (const auto& [name, shape] : tensors) {
    uint64_t n = 1;
    for (auto s : shape) n *= static_cast<uint64_t>(s);
    const bool ones = name.find("norm") != std::string::npos;
    while (n > 0) {
      const uint64_t m = std::min<uint64_t>(n, buf.size());
      for (uint64_t i = 0; i < m; ++i) {
        if (ones) {
          buf[i] = to_bf16(1.0f);
          continue;
        }
        *seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;                // xorshift64
        const float u = static_cast<float>(*seed >> 40) / static_cast<float>(1 << 24);  // [0, 1)
        buf[i] = to_bf16((2.0f * u - 1.0f) * a);
      }
      f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(m * 2));
      n -= m;
    }
  }
  if (!f) throw std::runtime_error(path.string() + ": write failed (disk full?)");
}

void write_model(const fs::path& dir, const Shape& s) {
  fs::create_directories(dir);
  const fs::path fix = fs::path(MOESCOPE_SOURCE_DIR) / "tests/fixtures/hf/olmoe";
  fs::copy_file(fix / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  fs::copy_file(fix / "tokenizer_config.json", dir / "tokenizer_config.json", fs::copy_options::overwrite_existing);
  json cfg = json::parse(std::ifstream(fix / "config.json"));
  cfg["hidden_size"] = s.d;
  cfg["intermediate_size"] = s.ffn;
  cfg["num_hidden_layers"] = s.layers;
  cfg["num_experts"] = s.experts;
  cfg["num_experts_per_tok"] = s.top_k;
  cfg["num_attention_heads"] = s.heads;
  cfg["num_key_value_heads"] = s.heads;
  cfg["vocab_size"] = s.vocab;
  cfg["max_position_embeddings"] = 4096;
  std::ofstream(dir / "config.json") << cfg.dump(2) << "\n";
  json weight_map = json::object();
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  const int64_t D = s.d;
  const std::string head_file = "model-embed.safetensors";
  write_shard(
      dir / head_file,
      {{"model.embed_tokens.weight", {s.vocab, D}}, {"lm_head.weight", {s.vocab, D}}, {"model.norm.weight", {D}}},
      &seed);
  for (auto n : {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"}) weight_map[n] = head_file;
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::map<std::string, std::vector<int64_t>> t{
        {p + "input_layernorm.weight", {D}},     {p + "post_attention_layernorm.weight", {D}},
        {p + "self_attn.q_proj.weight", {D, D}}, {p + "self_attn.k_proj.weight", {D, D}},
        {p + "self_attn.v_proj.weight", {D, D}}, {p + "self_attn.o_proj.weight", {D, D}},
        {p + "self_attn.q_norm.weight", {D}},    {p + "self_attn.k_norm.weight", {D}},
        {p + "mlp.gate.weight", {s.experts, D}}};
    for (int64_t e = 0; e < s.experts; ++e) {
      const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
      t[q + "gate_proj.weight"] = {s.ffn, D};
      t[q + "up_proj.weight"] = {s.ffn, D};
      t[q + "down_proj.weight"] = {D, s.ffn};
    }
    char name[64];
    std::snprintf(name, sizeof name, "model-layer-%03lld.safetensors", static_cast<long long>(l));
    write_shard(dir / name, t, &seed);
    for (const auto& kv : t) weight_map[kv.first] = name;
  }
  std::ofstream(dir / "model.safetensors.index.json")
      << json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump(1);
}

uint64_t dir_bytes(const fs::path& dir) {
  uint64_t n = 0;
  for (const auto& f : fs::directory_iterator(dir)) n += fs::file_size(f.path());
  return n;
}

// Best of 5 of an n x n x n matmul, in FLOP/s.
double matmul_peak(at::ScalarType dt, int64_t n) {
  auto a = torch::randn({n, n}).to(dt), b = torch::randn({n, n}).to(dt);
  torch::mm(a, b);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    const double t0 = now_s();
    auto c = torch::mm(a, b);
    best = std::min(best, now_s() - t0);
  }
  return 2.0 * n * n * n / best;
}

int measure(const fs::path& dir, int64_t tokens) {
  std::cout << "child start: " << memory_line() << std::endl;
  const double t0 = now_s();
  std::ostringstream log;
  moescope::LoadedRun run = moescope::load_model_dir(dir.string(), "cpu", log, moescope::HfWeights::kMapped);
  const double t_load = now_s() - t0;
  std::cout << log.str() << "load: " << t_load << " s; " << memory_line() << "\n";
  const auto& c = run.cfg.model;
  std::cout << "params: " << run.model->num_params() / 1e9 << " B total, " << run.model->num_active_params() / 1e9
            << " B active per token\n";

  // Tokens of TinyShakespeare through the model's own tokenizer.
  std::string text;
  for (const char* p : {"../shared/data/tinyshakespeare.txt", "data/tinyshakespeare.txt"}) {
    const fs::path f = fs::path(MOESCOPE_SOURCE_DIR) / p;
    if (fs::exists(f)) {
      std::ifstream in(f);
      text.assign(std::istreambuf_iterator<char>(in), {});
      break;
    }
  }
  if (text.empty()) text = "The quick brown fox jumps over the lazy dog. ";
  std::vector<int64_t> ids;
  for (size_t off = 0; static_cast<int64_t>(ids.size()) < tokens + 1; off = (off + 4096) % text.size())
    for (int32_t t : run.tokenizer->encode(text.substr(off, 4096))) ids.push_back(t);
  ids.resize(static_cast<size_t>(tokens + 1));
  auto all = torch::tensor(ids, torch::kLong);
  auto x = all.narrow(0, 0, tokens).unsqueeze(0), y = all.narrow(0, 1, tokens);
  torch::NoGradGuard ng;
  // Active FLOPs per token: 2 per active parameter in a matmul (all but the embedding lookup)
  // plus attention's QK^T and PV at the mean context S/2.
  const double matmul_params = static_cast<double>(run.model->num_active_params() - c.vocab_size * c.d_model);
  const double flops_tok =
      2.0 * matmul_params + 2.0 * 2.0 * static_cast<double>(c.n_layers) * c.d_model * (tokens / 2.0);
  std::cout << "activations: " << (run.model->compute_dtype == at::kBFloat16 ? "bf16" : "fp32") << ", threads "
            << at::get_num_threads() << "\n";
  double steady = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const double t = now_s();
    auto logits = run.model->forward(x).logits_BSV[0].to(at::kFloat);
    const double loss = torch::nn::functional::cross_entropy(logits, y).item<double>();
    const double dt = now_s() - t;
    if (pass > 0) steady = std::max(steady, tokens / dt);
    std::cout << "forward " << pass << " (" << (pass == 0 ? "faults the expert pages in" : "steady") << "): " << dt
              << " s, " << tokens / dt << " tokens/s, loss " << loss
              << " (ln V = " << std::log(static_cast<double>(c.vocab_size)) << "); " << memory_line() << "\n";
  }
  const double bf16 = matmul_peak(at::kBFloat16, 2048), fp32 = matmul_peak(at::kFloat, 2048);
  const double achieved = steady * flops_tok;
  std::printf(
      "eval: %.1f tokens/s steady, %.1f GFLOP/s achieved = %.1f%% of the bf16 matmul peak (%.1f GFLOP/s), "
      "%.1f%% of the fp32 one (%.1f GFLOP/s)\n",
      steady, achieved / 1e9, 100 * achieved / bf16, bf16 / 1e9, 100 * achieved / fp32, fp32 / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  moescope::init_process(argc, argv);  // threads: every core (or OMP_NUM_THREADS)
  Shape s;
  fs::path dir = "/tmp/moescope-olmoe-synth";
  int64_t tokens = 256;
  bool keep = false, child = false, created = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--dir") dir = next();
    else if (a == "--layers") s.layers = std::stoll(next());
    else if (a == "--experts") s.experts = std::stoll(next());
    else if (a == "--d") s.d = std::stoll(next());
    else if (a == "--ffn") s.ffn = std::stoll(next());
    else if (a == "--vocab") s.vocab = std::stoll(next());
    else if (a == "--tokens") tokens = std::stoll(next());
    else if (a == "--keep") keep = true;
    else if (a == "--child") child = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  try {
    if (child) return measure(dir, tokens);
    if (fs::exists(dir)) throw std::runtime_error(dir.string() + " exists; remove it or pass another --dir");
    const double t0 = now_s();
    created = true;
    write_model(dir, s);
    const uint64_t bytes = dir_bytes(dir);
    std::printf("wrote %s: %.2f GB (%.2f GiB) in %.1f s\n", dir.c_str(), bytes / 1e9, bytes / 1073741824.0,
                now_s() - t0);
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<std::string> args{argv[0], "--child", "--dir", dir.string(), "--tokens", std::to_string(tokens)};
      std::vector<char*> av;
      for (auto& a : args) av.push_back(a.data());
      av.push_back(nullptr);
      ::execv("/proc/self/exe", av.data());
      std::perror("execv");
      _exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!keep) moescope::remove_tree(dir.string());
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << "measuring child failed (status " << status << ")\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& ex) {
    std::cerr << "hf_load_bench: " << ex.what() << "\n";
    if (created && !keep) moescope::remove_tree(dir.string());
    return 1;
  }
}
