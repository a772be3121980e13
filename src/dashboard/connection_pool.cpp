// connection_pool.cpp: a growing pool of connection threads (see connection_pool.h).
#include "dashboard/connection_pool.h"

#include <algorithm>
#include <system_error>

namespace moescope::dashboard {

ConnectionPool::ConnectionPool(size_t min_threads, size_t max_threads, std::chrono::milliseconds idle_exit)
    : min_threads_(min_threads), max_threads_(std::max<size_t>(max_threads, 1)), idle_exit_(idle_exit) {}

ConnectionPool::~ConnectionPool() { shutdown(); }

void ConnectionPool::enqueue(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  reap_locked();
  jobs_.push_back(std::move(fn));
  // Every queued job needs its own idle worker; start one when there are fewer.
  if (jobs_.size() > idle_ && live_ < max_threads_) {
    try {
      workers_.emplace_back([this] { work(); });
      ++live_;
      return;
    } catch (const std::system_error&) {  // out of threads: the job waits for a running worker
      if (live_ == 0) {                   // none at all: run it here rather than leave the connection unserved
        std::function<void()> job = std::move(jobs_.back());
        jobs_.pop_back();
        lock.unlock();
        try {
          job();
        } catch (...) {
        }
        return;
      }
    }
  }
  work_cv_.notify_one();
}

void ConnectionPool::work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    work_cv_.wait_for(lock, idle_exit_, [&] { return stopping_ || !jobs_.empty(); });
    --idle_;
    if (!jobs_.empty()) {
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      try {
        job();
      } catch (...) {
        // The server's handlers catch everything; this only keeps a stray exception from
        // ending the process (an exception leaving a thread calls std::terminate).
      }
      lock.lock();
      continue;
    }
    if (stopping_ || live_ > min_threads_) break;
  }
  --live_;
  ended_.push_back(std::this_thread::get_id());
  ended_cv_.notify_all();
}

void ConnectionPool::reap_locked() {
  for (auto it = workers_.begin(); it != workers_.end() && !ended_.empty();) {
    auto e = std::find(ended_.begin(), ended_.end(), it->get_id());
    if (e == ended_.end()) {
      ++it;
      continue;
    }
    ended_.erase(e);
    it->join();  // it has left work(); only its return is left
    it = workers_.erase(it);
  }
}

void ConnectionPool::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  work_cv_.notify_all();
  ended_cv_.wait(lock, [&] { return live_ == 0; });
  reap_locked();
}

size_t ConnectionPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

}  // namespace moescope::dashboard
