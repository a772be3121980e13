// connection_pool.h: the dashboard server's worker threads (an httplib::TaskQueue).
//
// cpp-httplib runs each connection as one task, for as long as the connection lives: an open
// server-sent-event stream, or a browser's idle keep-alive connection, holds a worker the whole
// time. With a fixed pool, a few dozen of those left no worker for API requests (issue 13:
// /api/runs unanswered for 15 s). This pool grows instead: a connection that finds no idle
// worker gets a new thread, up to `max_threads`; threads above `min_threads` that stay idle for
// `idle_exit` end. Only past `max_threads` concurrent connections do new ones wait, and idle
// connections are closed by the server's keep-alive timeout. Event streams are capped
// separately (stream_slots.h), well below max_threads.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace moescope::dashboard {

class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(size_t min_threads, size_t max_threads, std::chrono::milliseconds idle_exit);
  ~ConnectionPool() override;

  void enqueue(std::function<void()> fn) override;
  // Lets the queued tasks run, then joins every thread.
  void shutdown() override;

  size_t threads() const;  // live worker threads, for tests

 private:
  void work();
  void reap_locked();  // joins threads that have ended

  const size_t min_threads_, max_threads_;
  const std::chrono::milliseconds idle_exit_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, ended_cv_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> workers_;
  std::vector<std::thread::id> ended_;
  size_t live_ = 0, idle_ = 0;
  bool stopping_ = false;
};

}  // namespace moescope::dashboard
