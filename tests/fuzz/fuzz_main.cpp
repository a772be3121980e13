// fuzz_main.cpp: moescope_fuzz, the seeded mutation fuzzer for every parser entry point.
//
//   moescope_fuzz TARGET [--iterations N] [--seed S] [--max-seconds T] [--corpus DIR]
//                        [--findings DIR] [--timeout-s T] [--max-rss-mb M]
//   moescope_fuzz --list
//
// Runs the target's built-in seeds (valid inputs: each must succeed), then every file under
// --corpus (earlier findings kept as regressions: each must end cleanly), then N mutated
// inputs (mutator.h) with a fixed seed, in-process. A crash or hang saves the input as
// FINDINGS/crash-TARGET-current (a signal handler, or before each run for targets that ask)
// and exits non-zero; other findings (fuzz_target.h) are saved as FINDINGS/<kind>-<hash> and
// make the exit status 1. Prints executions, clean errors and findings.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "mutator.h"

namespace fs = std::filesystem;
using namespace moescope::fuzz;

namespace {

// Read by the signal handler and the watchdog: the input being run.
const char* volatile g_input = nullptr;
volatile size_t g_input_size = 0;
char g_crash_path[4096];
std::atomic<int64_t> g_started_ms{-1};  // start of the current run, -1 between runs

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= size_t(w);
  }
}

void save_current_input() {
  const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  write_all(fd, g_input, g_input ? g_input_size : 0);
  ::close(fd);
}

void on_fatal_signal(int sig) {
  save_current_input();
  const char* msg = "\nmoescope_fuzz: FINDING: fatal signal; input saved as ";
  write_all(2, msg, std::strlen(msg));
  write_all(2, g_crash_path, std::strlen(g_crash_path));
  write_all(2, "\n", 1);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_crash_handlers() {
  static std::vector<char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

long max_rss_mb() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

struct Stats {
  uint64_t runs = 0, ok = 0, errors = 0, findings = 0;
  std::map<std::string, uint64_t> error_kinds;  // first words of clean errors, for the summary
};

std::string hex_hash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct Options {
  std::string target;
  uint64_t iterations = 1000, seed = 1;
  double max_seconds = 0;  // 0: no limit
  std::string corpus, findings = "fuzz-findings";
  int timeout_s = 20;
  long max_rss_mb = 3072;
};

int usage(const std::vector<TargetFactory>& all) {
  std::cerr
      << "usage: moescope_fuzz TARGET [--iterations N] [--seed S] [--max-seconds T] [--corpus DIR] [--findings DIR]\n"
         "                     [--timeout-s T] [--max-rss-mb M]\n       moescope_fuzz --list\ntargets:";
  for (auto& t : all) std::cerr << " " << t.name;
  std::cerr << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<TargetFactory> all;
  for (auto* group : {&io_targets, &http_targets, &train_targets})
    for (auto& t : (*group)()) all.push_back(std::move(t));
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
      return args[++i];
    };
    try {
      if (args[i] == "--list") {
        for (auto& t : all) std::cout << t.name << "\n";
        return 0;
      } else if (args[i] == "--iterations") o.iterations = std::stoull(value());
      else if (args[i] == "--seed") o.seed = std::stoull(value());
      else if (args[i] == "--max-seconds") o.max_seconds = std::stod(value());
      else if (args[i] == "--corpus") o.corpus = value();
      else if (args[i] == "--findings") o.findings = value();
      else if (args[i] == "--timeout-s") o.timeout_s = std::stoi(value());
      else if (args[i] == "--max-rss-mb") o.max_rss_mb = std::stol(value());
      else if (o.target.empty() && args[i][0] != '-') o.target = args[i];
      else return usage(all);
    } catch (const std::exception& e) {
      std::cerr << "moescope_fuzz: bad option " << args[i] << ": " << e.what() << "\n";
      return usage(all);
    }
  }
  const TargetFactory* factory = nullptr;
  for (auto& t : all)
    if (t.name == o.target) factory = &t;
  if (!factory) return usage(all);

  fs::create_directories(o.findings);
  std::snprintf(g_crash_path, sizeof g_crash_path, "%s/crash-%s-current", o.findings.c_str(), o.target.c_str());
  install_crash_handlers();
  FuzzTarget target = factory->make();

  // Inputs: seeds (must succeed), corpus files (must end cleanly), then mutations.
  std::vector<std::pair<std::string, std::string>> fixed;  // label, input
  for (size_t i = 0; i < target.seeds.size(); ++i) fixed.emplace_back("seed " + std::to_string(i), target.seeds[i]);
  std::vector<std::string> bases = target.seeds;
  if (!o.corpus.empty() && fs::is_directory(o.corpus))
    for (const auto& e : fs::recursive_directory_iterator(o.corpus))
      if (e.is_regular_file()) {
        fixed.emplace_back(e.path().string(), get_file(e.path().string()));
        bases.push_back(fixed.back().second);
      }
  Mutator mutator(o.seed, bases, target.max_len);

  std::thread watchdog([&] {
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const int64_t started = g_started_ms.load();
      if (started == -2) return;
      if (started >= 0 && now_ms() - started > int64_t(o.timeout_s) * 1000) {
        save_current_input();
        std::fprintf(stderr, "\nmoescope_fuzz: FINDING: one run took over %d s (hang); input saved as %s\n",
                     o.timeout_s, g_crash_path);
        std::_Exit(3);
      }
    }
  });

  Stats st;
  const long rss_start = max_rss_mb();
  bool seed_failed = false;
  const auto t0 = std::chrono::steady_clock::now();
  auto finding = [&](const std::string& kind, const std::string& label, const std::string& input,
                     const std::string& what) {
    ++st.findings;
    const std::string file = o.findings + "/" + kind + "-" + o.target + "-" + hex_hash(input);
    put_file(file, input);
    std::cerr << "moescope_fuzz: FINDING (" << kind << ") in " << label << ": " << what.substr(0, 300)
              << "\n  input saved as " << file << "\n";
  };
  const uint64_t total = fixed.size() + o.iterations;
  uint64_t i = 0;
  for (; i < total; ++i) {
    if (o.max_seconds > 0 && i >= fixed.size() &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > o.max_seconds)
      break;
    std::string label, input;
    if (i < fixed.size()) label = fixed[i].first, input = fixed[i].second;
    else label = "mutation " + std::to_string(i - fixed.size()), input = mutator.next();
    const bool is_seed = i < target.seeds.size();
    g_input = input.data();
    g_input_size = input.size();
    if (target.save_before_run) save_current_input();
    g_started_ms = now_ms();
    ++st.runs;
    try {
      target.run(input);
      ++st.ok;
    } catch (const Finding& e) {
      finding("wrong", label, input, e.what());
    } catch (const std::bad_alloc& e) {
      finding("memory", label, input, std::string("std::bad_alloc: ") + e.what());
    } catch (const nlohmann::json::exception& e) {
      finding("unclear", label, input, e.what());
    } catch (const std::exception& e) {
      if (unclear_message(e.what())) {
        finding("unclear", label, input, e.what());
      } else {
        ++st.errors;
        if (is_seed) {
          seed_failed = true;
          std::cerr << "moescope_fuzz: seed " << i << " failed (the target is broken): " << e.what() << "\n";
        }
        std::string kind = std::string(e.what()).substr(0, 60);
        if (st.error_kinds.size() < 2000) ++st.error_kinds[kind];
      }
    } catch (...) {
      finding("unclear", label, input, "an exception not derived from std::exception");
    }
    g_started_ms = -1;
    if (max_rss_mb() - rss_start > o.max_rss_mb) {
      finding("memory", label, input, "peak memory grew by " + std::to_string(max_rss_mb() - rss_start) + " MB");
      break;
    }
    if (st.findings >= 20) break;
  }
  g_started_ms = -2;
  watchdog.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "moescope_fuzz " << o.target << ": " << st.runs << " executions (" << fixed.size()
            << " seeds and corpus files, " << (st.runs > fixed.size() ? st.runs - fixed.size() : 0)
            << " mutations, seed " << o.seed << ") in " << secs << " s: " << st.ok << " ok, " << st.errors
            << " clean errors, " << st.findings << " findings; peak RSS " << max_rss_mb() << " MB\n";
  return st.findings || seed_failed ? 1 : 0;
}
