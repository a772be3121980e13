// dashboard_bench.cpp: the dashboard on a large log. Writes a synthetic run (default 20,000
// train records x 32 MoE layers x 64 experts, co-activation every 100 records, eval every
// 500), then measures: full indexing time and memory, HTTP response times and sizes of every
// endpoint the page uses (median and max of repeated requests), and the server-sent-event
// latency of an appended record. Usage:
//   dashboard_bench [--records N] [--layers L] [--experts E] [--dir DIR] [--keep]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "dashboard/dashboard_server.h"
#include "io/remove_tree.h"
#include "synthetic_log.h"

using namespace moescope;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static long max_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

int main(int argc, char** argv) {
  testing::SyntheticLogSpec spec;
  spec.records = 20000;
  spec.layers = 32;
  spec.experts = 64;
  spec.coactivation_every = 100;
  spec.eval_every = 500;
  spec.alert_every = 250;
  std::string dir = (std::filesystem::temp_directory_path() / "moescope-dashboard-bench").string();
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--records") spec.records = std::stoll(next());
    else if (a == "--layers") spec.layers = std::stoi(next());
    else if (a == "--experts") spec.experts = std::stoi(next());
    else if (a == "--dir") dir = next();
    else if (a == "--keep") keep = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  const std::string run = dir + "/big";
  auto t = Clock::now();
  const uint64_t bytes = testing::write_synthetic_run(run, spec);
  std::printf("log: %lld records x %d layers x %d experts, %.0f MB, written in %.1f s\n", (long long)spec.records,
              spec.layers, spec.experts, double(bytes) / 1e6, since(t));

  dashboard::DashboardServerConfig cfg;
  cfg.port = 0;
  cfg.poll_ms = 500;
  dashboard::DashboardServer server(dir, cfg);
  t = Clock::now();
  const int port = server.start();
  std::thread serving([&] { server.serve(); });
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  cli.set_default_headers({{"Accept-Encoding", "gzip, deflate, br"}});  // as a browser asks
  // The server answers while it indexes; time the first answer and the full index.
  double first_answer = -1;
  while (true) {
    auto r = cli.Get("/api/runs");
    if (r && first_answer < 0) first_answer = since(t);
    if (r && r->status == 200) {
      auto j = nlohmann::json::parse(r->body);
      if (!j.empty() && j[0]["last_step"].is_number() &&
          j[0]["last_step"].get<double>() >= double(spec.first_step + (spec.records - 1) * spec.every))
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("indexing: first API answer after %.2f s, whole log indexed after %.1f s (%.0f MB/s), max RSS %ld MB\n",
              first_answer, since(t), double(bytes) / 1e6 / since(t), max_rss_mb());

  const std::string last = std::to_string(spec.first_step + (spec.records - 1) * spec.every);
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"run list", "/api/runs"},
      {"run layout", "/api/run?run=big"},
      {"loss series (1000 pts)", "/api/series?run=big&table=train&field=loss&points=1000"},
      {"entropy, all layers (1000 pts)", "/api/series?run=big&table=train&field=entropy_norm&points=1000"},
      {"maxvio_batch, all layers (2000 pts)", "/api/series?run=big&table=train&field=maxvio_batch&points=2000"},
      {"zoomed series 5000-6000", "/api/series?run=big&table=train&field=top1_score&points=1000&from=5000&to=6000"},
      {"load heatmap, mid step", "/api/heatmap?run=big&field=load&step=10001"},
      {"load heatmap, last step", "/api/heatmap?run=big&field=load&step=" + last},
      {"bias heatmap", "/api/heatmap?run=big&field=bias&step=7777"},
      {"co-activation layer 7", "/api/heatmap?run=big&field=coactivation&layer=7&step=15000"},
      {"health table", "/api/health?run=big&step=12345"},
      {"events", "/api/events?run=big"},
      {"page", "/"},
  };
  std::printf("\n%-38s %10s %10s %10s\n", "request", "median ms", "max ms", "KB");
  for (const auto& [name, path] : requests) {
    std::vector<double> ms;
    size_t size = 0;
    for (int i = 0; i < 15; ++i) {
      auto s = Clock::now();
      auto r = cli.Get(path);
      ms.push_back(since(s) * 1e3);
      if (!r || r->status != 200) {
        std::fprintf(stderr, "%s failed: %s\n", path.c_str(), r ? r->body.c_str() : "no response");
        return 1;
      }
      size = r->body.size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-38s %10.1f %10.1f %10.1f\n", name.c_str(), ms[ms.size() / 2], ms.back(), double(size) / 1024);
  }

  // SSE latency: append one record, wait for the event that carries its step.
  std::vector<double> lat;
  for (int k = 0; k < 5; ++k) {
    const int64_t step = spec.first_step + (spec.records + k) * spec.every;
    Clock::time_point appended;
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300 + 137 * k));
      std::ofstream f(run + "/metrics.jsonl", std::ios::app);
      appended = Clock::now();
      f << testing::synthetic_train_line(spec, step, false) << "\n";
    });
    httplib::Client sse("127.0.0.1", port);
    std::string got;
    const std::string want = "\"last_step\":" + std::to_string(step);
    double latency = -1;
    sse.Get("/api/stream", [&](const char* d, size_t n) {
      got.append(d, n);
      if (got.find(want) != std::string::npos) {
        latency = since(appended);
        return false;
      }
      return true;
    });
    writer.join();
    lat.push_back(latency * 1e3);
  }
  std::sort(lat.begin(), lat.end());
  std::printf("\nSSE: appended record announced after median %.0f ms, max %.0f ms (poll every %d ms)\n",
              lat[lat.size() / 2], lat.back(), cfg.poll_ms);
  std::printf("max RSS %ld MB\n", max_rss_mb());
  server.stop();
  serving.join();
  if (!keep) remove_tree(run);
  return 0;
}
