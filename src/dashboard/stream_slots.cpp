// stream_slots.cpp: counting open event streams (see stream_slots.h).
#include "dashboard/stream_slots.h"

namespace moescope::dashboard {

StreamSlots::Grant StreamSlots::acquire(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  Grant g;
  size_t& mine = per_client_[client];
  if (open_ >= max_total_) g.refusal = Refusal::kTotal;
  else if (mine >= max_per_client_) g.refusal = Refusal::kClient;
  if (g.refusal != Refusal::kNone) {
    if (mine == 0) per_client_.erase(client);
    return g;
  }
  ++open_;
  ++mine;
  std::weak_ptr<StreamSlots> owner = weak_from_this();
  // Points at this owner (never deleted through it), so an engaged slot tests true.
  g.slot = std::shared_ptr<void>(static_cast<void*>(this), [owner, client](void*) {
    if (auto o = owner.lock()) o->release(client);
  });
  return g;
}

void StreamSlots::release(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  --open_;
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

size_t StreamSlots::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace moescope::dashboard
