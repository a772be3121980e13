// dashboard_server.cpp: HTTP routes, SSE and the log poller (see dashboard_server.h).
#include "dashboard/dashboard_server.h"

#include <chrono>
#include <iostream>

#include <httplib.h>

#include "dashboard/assets.h"

namespace moescope::dashboard {
namespace {

// With the charset parameter, cpp-httplib does not brotli/gzip-compress the body: on a local
// connection compression costs far more (over a second for a 600 KB series) than it saves.
const char* const kJson = "application/json; charset=utf-8";

void json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump(), kJson);
}

Params params_of(const httplib::Request& req) {
  Params p;
  for (auto& [k, v] : req.params) p.emplace(k, v);  // the first value of a repeated key wins
  return p;
}

}  // namespace

DashboardServer::DashboardServer(const std::string& logdir, DashboardServerConfig cfg)
    : cfg_(std::move(cfg)), catalog_(logdir, cfg_.catalog), api_(catalog_, cfg_.api), http_(std::make_unique<httplib::Server>()) {
  if (!cfg_.warn) cfg_.warn = [](const std::string& w) { std::cerr << "warning: " << w << std::endl; };
  install_routes();
}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::install_routes() {
  const int threads = cfg_.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http_->set_keep_alive_max_count(1000);

  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(asset_text("index.html"), asset_mime("index.html"));
  });
  http_->Get(R"(/assets/([A-Za-z0-9_.\-]+))", [](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const Asset* a = find_asset(name);
    if (!a) return json_error(res, 404, "no asset '" + name + "'");
    res.set_content(std::string(reinterpret_cast<const char*>(a->data), a->size), asset_mime(name));
    res.set_header("Cache-Control", "no-cache");
  });
  http_->Get("/api/stream", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-cache");
    auto last = std::make_shared<uint64_t>(UINT64_MAX);
    res.set_chunked_content_provider("text/event-stream", [this, last](size_t, httplib::DataSink& sink) {
      std::unique_lock<std::mutex> lock(mu_);
      if (*last != UINT64_MAX)
        changed_.wait_for(lock, std::chrono::milliseconds(cfg_.heartbeat_ms),
                          [&] { return stopping_ || version_ != *last; });
      if (stopping_) {
        sink.done();
        return false;
      }
      std::string msg;
      if (version_ != *last) {
        *last = version_;
        lock.unlock();
        msg = "data: " + nlohmann::json{{"runs", api_.runs()}}.dump() + "\n\n";
      } else {
        msg = ": keep-alive\n\n";
      }
      return sink.write(msg.data(), msg.size());
    });
  });
  http_->Get(R"(/api/[a-z]+)", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      res.set_content(api_.handle(req.path, params_of(req)).dump(), kJson);
    } catch (const ApiError& e) {
      json_error(res, e.status, e.what());
    } catch (const std::exception& e) {
      json_error(res, 500, e.what());
    }
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    json_error(res, 500, what);
  });
  http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string why = res.status == 404 ? "not found: " + req.path : "bad request";
    json_error(res, res.status, why);
    return httplib::Server::HandlerResponse::Handled;
  }));
}

int DashboardServer::start() {
  int port = cfg_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(cfg_.host);
    if (port < 0) throw std::runtime_error("cannot bind to " + cfg_.host + " on any port");
  } else if (!http_->bind_to_port(cfg_.host, port)) {
    throw std::runtime_error("cannot bind to " + cfg_.host + ":" + std::to_string(port) + " (in use, or bad address)");
  }
  for (const std::string& w : catalog_.update_all()) cfg_.warn(w);  // the first chunk of every run
  poller_ = std::thread([this] { poll_loop(); });
  return port;
}

void DashboardServer::serve() { http_->listen_after_bind(); }

void DashboardServer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  http_->stop();
  if (poller_.joinable()) poller_.join();
}

void DashboardServer::poll_loop() {
  auto last_rescan = std::chrono::steady_clock::now();
  std::map<std::string, uint64_t> seen;
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_rescan >= std::chrono::milliseconds(cfg_.rescan_ms)) {
      catalog_.rescan();
      last_rescan = now;
    }
    bool more = false;
    std::vector<std::string> warnings = catalog_.update_all(&more);
    const size_t shown = std::min<size_t>(warnings.size(), 20);
    for (size_t i = 0; i < shown; ++i) cfg_.warn(warnings[i]);
    if (warnings.size() > shown) cfg_.warn("... and " + std::to_string(warnings.size() - shown) + " more skipped lines");
    bool changed = false;
    for (const std::string& id : catalog_.ids()) {
      auto r = catalog_.find(id);
      uint64_t v;
      {
        auto lock = r->read_lock();
        v = r->version();
      }
      auto [it, inserted] = seen.emplace(id, v);
      if (inserted || it->second != v) changed = true;
      it->second = v;
    }
    if (changed) {
      std::lock_guard<std::mutex> lock(mu_);
      ++version_;
      changed_.notify_all();
    }
    if (more) continue;  // still reading a large log: keep going, readers are not blocked
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(cfg_.poll_ms), [&] { return bool(stopping_); });
  }
}

}  // namespace moescope::dashboard
