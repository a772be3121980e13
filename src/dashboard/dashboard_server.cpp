// dashboard_server.cpp: HTTP routing, safe error responses, SSE and the log poller (see
// dashboard_server.h).
#include "dashboard/dashboard_server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>

#include <httplib.h>

#include "dashboard/assets.h"
#include "dashboard/connection_pool.h"
#include "dashboard/stream_slots.h"
#include "io/json_guard.h"

namespace moescope::dashboard {
namespace {

// With the charset parameter, cpp-httplib does not brotli/gzip-compress the body: on a local
// connection compression costs far more (over a second for a 600 KB series) than it saves.
const char* const kJson = "application/json; charset=utf-8";
const char* const kErrorFallback = "{\"error\":\"internal error\"}";

// JSON text whatever the strings hold: invalid UTF-8 becomes U+FFFD instead of a throw.
std::string safe_dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void json_error(httplib::Response& res, int status, const std::string& message) noexcept {
  res.status = status;
  try {
    res.set_content(safe_dump(nlohmann::json{{"error", message}}), kJson);
  } catch (...) {
    res.set_content(kErrorFallback, kJson);
  }
}

Params params_of(const httplib::Request& req) {
  Params p;
  for (auto& [k, v] : req.params) p.emplace(k, v);  // the first value of a repeated key wins
  return p;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool asset_name_ok(const std::string& name) {
  return !name.empty() && name.size() <= 64 && name[0] != '.' && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

DashboardServer::DashboardServer(const std::string& logdir, DashboardServerConfig cfg)
    : cfg_(std::move(cfg)),
      catalog_(logdir, cfg_.catalog),
      api_(catalog_, cfg_.api),
      http_(std::make_unique<httplib::Server>()),
      streams_(std::make_shared<StreamSlots>(size_t(std::max(cfg_.max_streams, 0)),
                                             size_t(std::max(cfg_.max_streams_per_client, 0)))) {
  if (!cfg_.warn) cfg_.warn = [](const std::string& w) { std::cerr << "warning: " << w << std::endl; };
  install_routes();
}

DashboardServer::~DashboardServer() { stop(); }

void DashboardServer::warn(const std::string& message) noexcept {
  try {
    std::lock_guard<std::mutex> lock(warn_mu_);
    cfg_.warn(printable_text(message, 2000));
  } catch (...) {
  }
}

void DashboardServer::reply_error(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) noexcept {
  try {
    std::rethrow_exception(ep);
  } catch (const ApiError& e) {
    json_error(res, e.status, e.what());
  } catch (const std::exception& e) {
    warn("request " + req.method + " " + req.path + " failed: " + e.what());
    json_error(res, 500, "internal error while serving this request (the server's log has the details)");
  } catch (...) {
    warn("request " + req.method + " " + req.path + " failed with an unknown exception");
    json_error(res, 500, "internal error while serving this request");
  }
}

void DashboardServer::install_routes() {
  const size_t min_threads = size_t(std::max(cfg_.min_threads, 0)), max_threads = size_t(std::max(cfg_.max_threads, 1));
  http_->new_task_queue = [min_threads, max_threads] {
    return new ConnectionPool(min_threads, max_threads, std::chrono::seconds(30));
  };
  http_->set_keep_alive_max_count(1000);
  http_->set_keep_alive_timeout(cfg_.keep_alive_s);
  http_->set_read_timeout(cfg_.read_timeout_s, 0);
  http_->set_write_timeout(cfg_.read_timeout_s, 0);
  http_->set_payload_max_length(64 * 1024);  // nothing here takes a request body

  // One dispatcher for every request, before cpp-httplib's own routing: plain string
  // comparisons on the decoded path (no regex over hostile text), and every exception caught.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // No byte ranges: cpp-httplib would cut any body to a Range header, error JSON included.
    // (The Request is cpp-httplib's own non-const object, handed over as const.)
    const_cast<httplib::Request&>(req).ranges.clear();
    try {
      route(req, res);
    } catch (...) {
      reply_error(req, res, std::current_exception());
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    reply_error(req, res, ep);
  });
  // Errors cpp-httplib answers itself (malformed request line 400, URI too long 414, bad
  // Range 416, body too large 413).
  http_->set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // already ours
        try {
          const std::string why = res.status == 404   ? "not found: " + printable_text(req.path, 200)
                                  : res.status == 414 ? "request line too long"
                                                      : "bad request (HTTP " + std::to_string(res.status) + ")";
          json_error(res, res.status, why);
        } catch (...) {
          json_error(res, res.status, "bad request");
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
}

void DashboardServer::route(const httplib::Request& req, httplib::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    throw ApiError(405, "method not allowed: only GET and HEAD");
  }
  const std::string& path = req.path;
  if (path == "/") {
    res.set_content(asset_text("index.html"), asset_mime("index.html"));
  } else if (starts_with(path, "/assets/")) {
    const std::string name = path.substr(8);
    const Asset* a = asset_name_ok(name) ? find_asset(name) : nullptr;
    if (!a) throw ApiError(404, "no asset '" + printable_text(name, 80) + "'");
    res.set_content(std::string(reinterpret_cast<const char*>(a->data), a->size), asset_mime(name));
    res.set_header("Cache-Control", "no-cache");
  } else if (path == "/api/stream") {
    stream(req, res);
  } else if (starts_with(path, "/api/")) {
    res.set_content(safe_dump(api_.handle(path, params_of(req))), kJson);
  } else {
    throw ApiError(404, "not found: " + printable_text(path, 200));
  }
}

void DashboardServer::stream(const httplib::Request& req, httplib::Response& res) {
  StreamSlots::Grant grant = streams_->acquire(req.remote_addr);
  if (grant.refusal == StreamSlots::Refusal::kTotal) {
    res.set_header("Retry-After", "10");
    throw ApiError(503, "too many event streams are open (the limit is " + std::to_string(streams_->max_total()) +
                            "); close other dashboard tabs");
  }
  if (grant.refusal == StreamSlots::Refusal::kClient) {
    res.set_header("Retry-After", "10");
    throw ApiError(429, "too many event streams from this address (the limit is " +
                            std::to_string(streams_->max_per_client()) + "); close other dashboard tabs");
  }
  res.set_header("Cache-Control", "no-cache");
  auto last = std::make_shared<uint64_t>(UINT64_MAX);
  std::shared_ptr<void> slot = std::move(grant.slot);  // freed with the provider, when the stream ends
  res.set_chunked_content_provider("text/event-stream", [this, last, slot](size_t, httplib::DataSink& sink) {
    try {
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
        msg = "data: " + safe_dump(nlohmann::json{{"runs", api_.runs()}}) + "\n\n";
      } else {
        msg = ": keep-alive\n\n";
      }
      return sink.write(msg.data(), msg.size());
    } catch (const std::exception& e) {
      warn(std::string("event stream ended: ") + e.what());
      return false;
    }
  });
}

int DashboardServer::start() {
  int port = cfg_.port;
  if (port == 0) {
    port = http_->bind_to_any_port(cfg_.host);
    if (port < 0) throw std::runtime_error("cannot bind to " + cfg_.host + " on any port");
  } else if (!http_->bind_to_port(cfg_.host, port)) {
    throw std::runtime_error("cannot bind to " + cfg_.host + ":" + std::to_string(port) + " (in use, or bad address)");
  }
  for (const std::string& w : catalog_.update_all()) warn(w);  // the first chunk of every run
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
    bool more = false;
    try {
      auto now = std::chrono::steady_clock::now();
      if (now - last_rescan >= std::chrono::milliseconds(cfg_.rescan_ms)) {
        catalog_.rescan();
        last_rescan = now;
      }
      std::vector<std::string> warnings = catalog_.update_all(&more);
      const size_t shown = std::min<size_t>(warnings.size(), 20);
      for (size_t i = 0; i < shown; ++i) warn(warnings[i]);
      if (warnings.size() > shown) warn("... and " + std::to_string(warnings.size() - shown) + " more skipped lines");
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
    } catch (const std::exception& e) {  // keep serving what was read; try again next poll
      warn(std::string("reading the logs failed: ") + e.what());
      more = false;
    }
    if (more) continue;  // still reading a large log: keep going, readers are not blocked
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::milliseconds(cfg_.poll_ms), [&] { return bool(stopping_); });
  }
}

}  // namespace moescope::dashboard
