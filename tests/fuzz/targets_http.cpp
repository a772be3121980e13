// targets_http.cpp: the dashboard server fuzzed over HTTP. Each input is a raw request
// (request line, headers, maybe a body) sent on a fresh loopback connection to a server
// serving a copy of the tiny fixture run, a run whose directory name is invalid UTF-8, and a
// run whose files are symlinks out of the log directory. The server must answer every request
// with a well-formed response; an error must be a JSON object {"error": string} in valid
// UTF-8; no request may get a 500 (an exception nobody turned into a specific error) or kill,
// hang or starve the server. MOESCOPE_FUZZ_SHOW=1 prints every raw response (for replaying one).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dashboard/dashboard_server.h"
#include "fuzz_target.h"

namespace fs = std::filesystem;

namespace moescope::fuzz {
namespace {

struct HttpState {
  std::shared_ptr<std::string> dir, outside;
  std::unique_ptr<dashboard::DashboardServer> server;
  std::thread thread;
  int port = 0;
  ~HttpState() {
    if (server) server->stop();
    if (thread.joinable()) thread.join();
  }
};

// Sends `request`, half-closes, and reads the response until the server closes (or, for an
// event stream, until its first event), within `timeout_ms`.
std::string exchange(int port, const std::string& request, int timeout_ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("fuzz driver: socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw Finding("cannot connect to the dashboard server (did it stop serving?)");
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on a bad request
    sent += size_t(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[65536];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      ::close(fd);
      throw Finding("no complete response within " + std::to_string(timeout_ms) + " ms (" + std::to_string(out.size()) +
                    " bytes so far)");
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left)) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end != std::string::npos && out.find("text/event-stream") < head_end &&
        out.find("\n\n", head_end + 4) != std::string::npos)
      break;
  }
  ::close(fd);
  return out;
}

// Checks one response at the start of `r`; returns its length (npos: the rest is a stream or
// a body without a length, nothing more to check).
size_t check_one(const std::string& r) {
  if (r.rfind("HTTP/1.", 0) != 0 || r.size() < 12)
    throw Finding("response does not start with a status line: " + r.substr(0, 80));
  const int status = std::atoi(r.substr(9, 3).c_str());
  const size_t head_end = r.find("\r\n\r\n");
  if (status < 100 || head_end == std::string::npos) throw Finding("malformed response head: " + r.substr(0, 200));
  const std::string head = r.substr(0, head_end);
  size_t length = std::string::npos;
  const size_t cl = head.find("Content-Length: ");
  if (cl != std::string::npos) length = std::strtoull(head.c_str() + cl + 16, nullptr, 10);
  if (r.compare(head_end + 4, 7, "HTTP/1.") == 0) length = 0;  // a HEAD response: a length, no body
  const std::string body = r.substr(head_end + 4, length);
  if (status == 500) throw Finding("HTTP 500: " + body.substr(0, 300));
  if (status >= 400 && !body.empty()) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);  // strict UTF-8
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string())
      throw Finding("HTTP " + std::to_string(status) + " body is not {\"error\": string}: " + body.substr(0, 300));
    if (j["error"].get<std::string>().find("json.exception") != std::string::npos)
      throw Finding("error text carries a library exception: " + body.substr(0, 300));
  }
  return length == std::string::npos ? length : head_end + 4 + length;
}

// A request may hold several pipelined requests: every response is checked.
void check_response(const std::string& r) {
  if (r.find("\"secret\"") != std::string::npos) throw Finding("served a file from outside the log directory");
  size_t at = 0;
  while (at < r.size()) {
    const size_t n = check_one(r.substr(at));
    if (n == std::string::npos) break;
    at += n;
  }
}

FuzzTarget http_target() {
  auto s = std::make_shared<HttpState>();
  s->dir = scratch_dir("http-logs");
  s->outside = scratch_dir("http-outside");
  const std::string fixture = std::string(MOESCOPE_SOURCE_DIR) + "/tests/fixtures/runs/tiny-remediated";
  const std::string logs = *s->dir;
  fs::create_directories(logs + "/tiny");
  for (const char* f : {"metrics.jsonl", "alerts.jsonl", "config.json"})
    fs::copy_file(fixture + "/" + f, logs + "/tiny/" + f);
  fs::create_directories(logs +
                         "/bad\xff"
                         "name");
  fs::copy_file(fixture + "/metrics.jsonl", logs +
                                                "/bad\xff"
                                                "name/metrics.jsonl");
  put_file(*s->outside + "/secret.txt", "{\"type\":\"train\",\"step\":1,\"secret\":\"outside\"}\n");
  fs::create_directories(logs + "/linked");
  fs::create_symlink(*s->outside + "/secret.txt", logs + "/linked/metrics.jsonl");
  fs::create_symlink(*s->outside + "/secret.txt", logs + "/linked/alerts.jsonl");
  fs::create_symlink(*s->outside + "/secret.txt", logs + "/tiny/config.json.link");

  dashboard::DashboardServerConfig cfg;
  cfg.port = 0;
  cfg.poll_ms = 100;
  cfg.heartbeat_ms = 200;
  cfg.read_timeout_s = 2;
  cfg.keep_alive_s = 2;
  cfg.warn = [](const std::string&) {};
  s->server = std::make_unique<dashboard::DashboardServer>(logs, cfg);
  s->port = s->server->start();
  s->thread = std::thread([s = s.get()] { s->server->serve(); });

  FuzzTarget t;
  t.name = "http";
  t.max_len = 16 << 10;
  t.save_before_run = true;  // the server's threads have no alternate signal stack
  t.state = s;
  auto get = [](const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
  };
  for (const char* target : {"/",
                             "/assets/api.js",
                             "/assets/uPlot.min.css",
                             "/api/runs",
                             "/api/run?run=tiny",
                             "/api/events?run=tiny",
                             "/api/health?run=tiny",
                             "/api/health?run=tiny&step=10",
                             "/api/series?run=tiny&field=loss&points=50",
                             "/api/series?run=tiny&table=eval&field=val_loss",
                             "/api/series?run=tiny&field=entropy_norm&entity=1&from=2&to=12",
                             "/api/heatmap?run=tiny&field=load&step=8",
                             "/api/heatmap?run=tiny&field=dead",
                             "/api/heatmap?run=tiny&field=coactivation&layer=1",
                             "/api/stream",
                             "/api/run?run=linked",
                             "/api/run?run=bad%ffname",
                             "/%ff",
                             "/..%c0%af..%c0%afetc%c0%afpasswd",
                             "/assets/%ff",
                             "/api/%ff",
                             "/api/run?run=%ff",
                             "/api/series?run=tiny&field=loss&points=%205"})
    t.seeds.push_back(get(target));
  t.seeds.push_back("HEAD /api/runs HTTP/1.1\r\nHost: x\r\n\r\n");
  t.seeds.push_back("POST /api/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  t.seeds.push_back("GET /api/runs HTTP/1.0\r\nRange: bytes=0-10\r\n\r\n");
  const int port = s->port;
  t.run = [port](const std::string& input) {
    const std::string response = exchange(port, input, 8000);
    if (std::getenv("MOESCOPE_FUZZ_SHOW"))
      std::cerr << "response (" << response.size() << " bytes):\n" << response << "\n";
    check_response(response);
  };
  return t;
}

}  // namespace

std::vector<TargetFactory> http_targets() { return {{"http", http_target}}; }

}  // namespace moescope::fuzz
