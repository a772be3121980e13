// step_profile.cpp: where a training step's time goes, by LibTorch op (issue 30).
// Runs N optimizer steps of the real Trainer on a preset (REF-CPU by default: configs/ref-cpu.toml,
// batch 8 x 256) after 3 warm-up steps, with a RecordFunction observer on every thread (forward
// on the caller's, backward on the autograd engine's). Per op name it sums
//   top    inclusive time of calls made at depth 0 (no other observed op around them on that
//          thread): these shares add up to the time spent inside LibTorch ops;
//   self   time of every call minus its observed children, at any depth: where the cycles are.
// The step wall time between after_step hooks is the denominator; the rest is moescope's own
// code between ops (optimizer loop, routing bookkeeping, ...) and the framework's gaps.
// Usage: step_profile [--config ref-cpu] [--dtype auto|fp32|bf16] [--threads N] [--steps 5]
//                     [--top 25] [--data FILE]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/record_function.h>
#include <torch/torch.h>

#include "core/config.h"
#include "io/remove_tree.h"
#include "ops/runtime.h"
#include "train/trainer.h"

using namespace moescope;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

struct OpTotals {
  double top_s = 0, self_s = 0;
  int64_t calls = 0;
};

std::mutex g_mu;
std::map<std::string, OpTotals> g_ops;
bool g_on = false;

struct Frame {
  std::string name;
  double t0, child_s;
};
thread_local std::vector<Frame> t_stack;

std::unique_ptr<at::ObserverContext> on_enter(const at::RecordFunction& fn) {
  if (g_on) t_stack.push_back({fn.name(), now_s(), 0.0});
  return nullptr;
}

void on_exit(const at::RecordFunction& fn, at::ObserverContext*) {
  if (!g_on || t_stack.empty() || t_stack.back().name != fn.name()) return;
  const Frame f = t_stack.back();
  t_stack.pop_back();
  const double dt = now_s() - f.t0;
  if (!t_stack.empty()) t_stack.back().child_s += dt;
  std::lock_guard<std::mutex> lk(g_mu);
  auto& o = g_ops[f.name];
  o.self_s += dt - f.child_s;
  o.calls += 1;
  if (t_stack.empty()) o.top_s += dt;
}

}  // namespace

int main(int argc, char** argv) {
  init_process(argc, argv);
  std::string preset = "ref-cpu", dtype = "auto";
  std::string data = std::string(MOESCOPE_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt";
  int threads = 1, top = 25;
  int64_t steps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--config") preset = v;
    else if (k == "--dtype") dtype = v;
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--top") top = std::stoi(v);
    else if (k == "--data") data = v;
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (!fs::exists(data)) {
    std::cerr << "step_profile: no data file " << data << " (pass --data FILE)\n";
    return 2;
  }
  set_compute_threads(threads);
  const std::string path = std::string(MOESCOPE_SOURCE_DIR) + "/configs/" + preset + ".toml";
  Config cfg =
      load_config(path, {"data.path=" + data, "train.dtype=" + dtype, "train.device=cpu", "data.tokenizer=char",
                         "train.log_every=100000", "train.eval_every=100000", "train.ckpt_every=100000",
                         "train.threads=" + std::to_string(threads), "train.max_steps=" + std::to_string(3 + steps)});
  const fs::path dir = fs::temp_directory_path() / ("moescope-step-profile-" + std::to_string(::getpid()));
  remove_tree(dir.string());
  std::ostringstream log;
  Trainer tr(cfg, dir.string(), false, log);
  std::vector<double> t;
  tr.hooks.after_step = [&](int64_t) {
    t.push_back(now_s());
    g_on = t.size() >= 3 && t.size() < static_cast<size_t>(3 + steps);  // observe steps 4 .. 3+steps
  };
  auto handle = at::addGlobalCallback(at::RecordFunctionCallback(&on_enter, &on_exit).needsInputs(false));
  std::streambuf* old = std::cout.rdbuf(log.rdbuf());
  tr.run();
  std::cout.rdbuf(old);
  at::removeCallback(handle);
  remove_tree(dir.string());
  const double wall = t.size() > 3 ? t.back() - t[2] : 0;
  std::string dline;  // the trainer's "train.dtype ... -> ..." line
  std::istringstream ls(log.str());
  for (std::string l; std::getline(ls, l);)
    if (l.find("train.dtype") != std::string::npos) {
      dline = l;
      break;
    }
  std::printf("preset %s, %d thread(s), %lld observed steps, %.1f ms a step (with the observer)\n%s\n", preset.c_str(),
              threads, static_cast<long long>(steps), 1e3 * wall / static_cast<double>(steps), dline.c_str());
  auto table = [&](const char* title, auto key) {
    std::vector<std::pair<std::string, OpTotals>> v(g_ops.begin(), g_ops.end());
    std::sort(v.begin(), v.end(), [&](auto& a, auto& b) { return key(a.second) > key(b.second); });
    double sum = 0;
    for (auto& [n, o] : v) sum += key(o);
    std::printf("\n%s: %.1f%% of the step in ops\n%7s %9s %8s  %s\n", title, 100 * sum / wall, "share", "ms/step",
                "calls", "op");
    for (int i = 0; i < top && i < static_cast<int>(v.size()); ++i)
      std::printf("%6.1f%% %9.2f %8lld  %s\n", 100 * key(v[i].second) / wall,
                  1e3 * key(v[i].second) / static_cast<double>(steps),
                  static_cast<long long>(v[i].second.calls / steps), v[i].first.c_str());
  };
  table("top-level ops, inclusive", [](const OpTotals& o) { return o.top_s; });
  table("self time, every depth", [](const OpTotals& o) { return o.self_s; });
  return 0;
}
