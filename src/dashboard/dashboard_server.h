// dashboard_server.h: the `moescope dashboard` HTTP server.
//
// Serves the embedded page and assets, the JSON API of dashboard_api.h under /api/, and a
// server-sent-event stream /api/stream that sends the run list (with per-run versions)
// whenever a run's log grows. A poller thread re-reads the logs every `poll_ms`. Errors are
// JSON {"error": "..."} with a 4xx/5xx status. Binds to 127.0.0.1 unless told otherwise.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dashboard/dashboard_api.h"
#include "dashboard/run_catalog.h"

namespace httplib {
class Server;
}

namespace moescope::dashboard {

struct DashboardServerConfig {
  std::string host = "127.0.0.1";
  int port = 8501;             // 0 picks a free port
  int poll_ms = 500;           // how often logs are re-read (live updates within ~poll_ms)
  int rescan_ms = 2000;        // how often new run directories are looked for
  int heartbeat_ms = 10000;    // SSE keep-alive comment interval
  int threads = 32;            // HTTP worker threads (each open SSE stream holds one)
  RunCatalogConfig catalog;
  DashboardApiConfig api;
  std::function<void(const std::string&)> warn;  // skipped-line warnings (default: stderr)
};

class DashboardServer {
 public:
  // Throws std::runtime_error when `logdir` is not a directory.
  DashboardServer(const std::string& logdir, DashboardServerConfig cfg = {});
  ~DashboardServer();

  // Binds the socket and starts the poller; returns the bound port. Throws when it cannot bind.
  int start();
  // Serves until stop() (blocking). start() must have been called.
  void serve();
  void stop();

  RunCatalog& catalog() { return catalog_; }

 private:
  void poll_loop();
  void install_routes();

  DashboardServerConfig cfg_;
  RunCatalog catalog_;
  DashboardApi api_;
  std::unique_ptr<httplib::Server> http_;
  std::thread poller_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t version_ = 0;  // bumps when any run changed; guarded by mu_
};

}  // namespace moescope::dashboard
