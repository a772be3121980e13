// stream_slots.h: the cap on open server-sent-event streams, in total and per client address.
//
// Each open /api/stream holds a connection thread (connection_pool.h) until the client goes
// away, which the server notices at the next heartbeat. acquire() hands out a slot while both
// limits allow; the slot is given back when the last copy of the returned handle is destroyed
// (the stream's content provider owns it).
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace moescope::dashboard {

class StreamSlots : public std::enable_shared_from_this<StreamSlots> {
 public:
  // Create with std::make_shared (slots refer back to their owner).
  StreamSlots(size_t max_total, size_t max_per_client) : max_total_(max_total), max_per_client_(max_per_client) {}

  enum class Refusal { kNone, kTotal, kClient };
  struct Grant {
    std::shared_ptr<void> slot;  // held while the stream is open; empty when refused
    Refusal refusal = Refusal::kNone;
  };
  Grant acquire(const std::string& client);

  size_t open() const;
  size_t max_total() const { return max_total_; }
  size_t max_per_client() const { return max_per_client_; }

 private:
  void release(const std::string& client);

  const size_t max_total_, max_per_client_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  std::map<std::string, size_t> per_client_;
};

}  // namespace moescope::dashboard
