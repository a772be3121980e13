// connection_pool_test.cpp: the server's connection threads grow while every thread is
// busy (a blocked connection never delays the next one), up to the cap; idle extra threads
// end; shutdown runs what was queued and joins every thread.
#include "dashboard/connection_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

namespace moescope::dashboard {

TEST(ConnectionPool, GrowsPastBlockedTasksUpToTheCapAndShrinksWhenIdle) {
  ConnectionPool pool(1, 8, std::chrono::milliseconds(100));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> started{0}, done{0};
  for (int i = 0; i < 10; ++i)
    pool.enqueue([&] {
      ++started;
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
      ++done;
    });
  for (int i = 0; i < 200 && started < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(started, 8);  // eight blocked tasks each got a thread; two wait for the cap
  EXPECT_EQ(pool.threads(), 8u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 200 && done < 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(done, 10);
  for (int i = 0; i < 200 && pool.threads() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(pool.threads(), 1u);  // back to min_threads
  std::atomic<int> later{0};
  for (int i = 0; i < 5; ++i) pool.enqueue([&] { ++later; });
  pool.shutdown();  // runs the queued tasks first
  EXPECT_EQ(later, 5);
  EXPECT_EQ(pool.threads(), 0u);
}

}  // namespace moescope::dashboard
