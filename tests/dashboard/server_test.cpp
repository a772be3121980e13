// server_test.cpp: the HTTP server end to end on a free port: embedded page and assets, JSON
// errors with 4xx statuses (path traversal included), and the server-sent event that follows
// an appended record.
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "dashboard/dashboard_server.h"
#include "io/io_test_util.h"
#include "synthetic_log.h"

namespace moescope::dashboard {

TEST(DashboardServer, ServesPageApiAndJsonErrors) {
  moescope::testing::TempDir tmp;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 20;
  moescope::testing::write_synthetic_run(tmp.path() + "/run1", spec);
  DashboardServerConfig cfg;
  cfg.port = 0;
  DashboardServer server(tmp.path(), cfg);
  const int port = server.start();
  std::thread t([&] { server.serve(); });
  httplib::Client cli("127.0.0.1", port);
  for (int i = 0; i < 100 && !cli.Get("/api/runs"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  auto page = cli.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("moescope"), std::string::npos);
  auto js = cli.Get("/assets/uPlot.iife.min.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_GT(js->body.size(), 10000u);
  auto runs = cli.Get("/api/runs");
  ASSERT_TRUE(runs);
  EXPECT_EQ(nlohmann::json::parse(runs->body)[0]["id"], "run1");

  for (const char* path : {"/../../etc/passwd", "/assets/..%2F..%2Fetc%2Fpasswd", "/api/run?run=..%2F..%2Fetc",
                           "/api/series?run=run1&field=loss&points=-3", "/nothing"}) {
    auto r = cli.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_GE(r->status, 400) << path;
    EXPECT_LT(r->status, 500) << path;
    auto body = nlohmann::json::parse(r->body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("error")) << path << ": " << r->body;
  }
  server.stop();
  t.join();
}

TEST(DashboardServer, StreamAnnouncesAppendedRecords) {
  moescope::testing::TempDir tmp;
  moescope::testing::SyntheticLogSpec spec;
  spec.records = 3;
  moescope::testing::write_synthetic_run(tmp.path() + "/run1", spec);
  DashboardServerConfig cfg;
  cfg.port = 0;
  cfg.poll_ms = 200;
  DashboardServer server(tmp.path(), cfg);
  const int port = server.start();
  std::thread t([&] { server.serve(); });

  std::string received;
  std::chrono::steady_clock::time_point appended, seen;
  bool saw_step = false;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream f(tmp.path() + "/run1/metrics.jsonl", std::ios::app);
    appended = std::chrono::steady_clock::now();
    f << moescope::testing::synthetic_train_line(spec, 4242, false) << "\n";
  });
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5, 0);
  cli.Get("/api/stream", [&](const char* data, size_t n) {
    received.append(data, n);
    if (received.find("\"last_step\":4242") != std::string::npos) {
      seen = std::chrono::steady_clock::now();
      saw_step = true;
      return false;
    }
    return true;
  });
  writer.join();
  ASSERT_TRUE(saw_step) << received;
  EXPECT_NE(received.find("data: {\"runs\":"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(seen - appended).count(), 2.0);
  server.stop();
  t.join();
}

}  // namespace moescope::dashboard
