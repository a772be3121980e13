// stream_slots_test.cpp: event-stream slots are capped in total and per client, and come back
// when the last copy of a slot is dropped.
#include "dashboard/stream_slots.h"

#include <vector>

#include <gtest/gtest.h>

namespace moescope::dashboard {

TEST(StreamSlots, CapsTotalAndPerClientAndReleases) {
  auto slots = std::make_shared<StreamSlots>(3, 2);
  std::vector<std::shared_ptr<void>> held;
  for (int i = 0; i < 2; ++i) {
    auto g = slots->acquire("a");
    ASSERT_TRUE(g.slot);
    held.push_back(g.slot);
  }
  auto third_a = slots->acquire("a");
  EXPECT_FALSE(third_a.slot);
  EXPECT_EQ(third_a.refusal, StreamSlots::Refusal::kClient);
  auto b = slots->acquire("b");
  ASSERT_TRUE(b.slot);
  auto c = slots->acquire("c");
  EXPECT_EQ(c.refusal, StreamSlots::Refusal::kTotal);
  EXPECT_EQ(slots->open(), 3u);
  auto copy = held[0];
  held[0].reset();
  EXPECT_EQ(slots->open(), 3u);  // a copy still holds it
  copy.reset();
  EXPECT_EQ(slots->open(), 2u);
  EXPECT_TRUE(slots->acquire("a").slot);  // a is below its cap again (and this one is dropped at once)
  EXPECT_EQ(slots->open(), 2u);
}

}  // namespace moescope::dashboard
