// dashboard_server.h: the `moescope dashboard` HTTP server.
//
// Serves the embedded page and assets, the JSON API of dashboard_api.h under /api/, and a
// server-sent-event stream /api/stream that sends the run list (with per-run versions)
// whenever a run's log grows. A poller thread re-reads the logs every `poll_ms`. Binds to
// 127.0.0.1 unless told otherwise.
//
// Hostile requests: every error is JSON {"error": "..."} with a 4xx/5xx status, encoded
// whatever bytes the request held (invalid UTF-8 is escaped or replaced);
// every handler, the error handler and the exception handler catch everything, and a 500
// never carries a library's exception text (that goes to `warn`). Connections run on a
// growing pool (connection_pool.h); event streams are capped in total and per client address
// (503 / 429 beyond), idle connections are closed after `keep_alive_s`, so API requests are
// answered while streams and idle connections are open.
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dashboard/dashboard_api.h"
#include "dashboard/run_catalog.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace moescope::dashboard {

class StreamSlots;

struct DashboardServerConfig {
  std::string host = "127.0.0.1";
  int port = 8501;                  // 0 picks a free port
  int poll_ms = 500;                // how often logs are re-read (live updates within ~poll_ms)
  int rescan_ms = 2000;             // how often new run directories are looked for
  int heartbeat_ms = 5000;          // SSE keep-alive comment interval (a closed stream is noticed
                                    // at the next one or two, then its slot is free again)
  int min_threads = 4;              // connection threads kept when idle
  int max_threads = 256;            // connection threads at most (each open connection holds one)
  int max_streams = 64;             // open /api/stream connections at most
  int max_streams_per_client = 32;  // ... from one client address
  int keep_alive_s = 5;             // an idle connection is closed after this long
  int read_timeout_s = 5;           // a request that stalls this long is dropped
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
  void route(const httplib::Request& req, httplib::Response& res);
  void stream(const httplib::Request& req, httplib::Response& res);
  // Turns an exception into an error response (see the banner).
  void reply_error(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) noexcept;
  void warn(const std::string& message) noexcept;  // cfg_.warn, serialised, printable

  DashboardServerConfig cfg_;
  RunCatalog catalog_;
  DashboardApi api_;
  std::unique_ptr<httplib::Server> http_;
  std::shared_ptr<StreamSlots> streams_;
  std::thread poller_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_, warn_mu_;
  std::condition_variable changed_;
  uint64_t version_ = 0;  // bumps when any run changed; guarded by mu_
};

}  // namespace moescope::dashboard
