// generate_test.cpp: the sampling rules (greedy, top-k, top-p, repetition penalty, seeding).
#include <set>

#include <gtest/gtest.h>

#include "train/generate.h"

using namespace moescope;

TEST(Sampling, GreedyTopKTopPAndPenalty) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};
  SampleOptions o;
  uint64_t rng = 1;
  o.temperature = 0;
  EXPECT_EQ(sample_token(logits, {}, o, &rng), 1);
  o.repetition_penalty = 2.0;  // token 1's logit 3.0 -> 1.5: token 4 (2.9) wins
  EXPECT_EQ(sample_token(logits, {1}, o, &rng), 4);
  o.repetition_penalty = 1.0;
  o.temperature = 1.0;
  o.top_k = 2;
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(sample_token(logits, {}, o, &rng));
  EXPECT_EQ(seen, (std::set<int32_t>{1, 4}));
  o.top_k = 0;
  o.top_p = 0.3;  // the top token alone holds > 30% of the mass
  seen.clear();
  for (int i = 0; i < 100; ++i) seen.insert(sample_token(logits, {}, o, &rng));
  EXPECT_EQ(seen, (std::set<int32_t>{1}));
  uint64_t a = 42, b = 42;  // same seed, same draws
  o.top_p = 1.0;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_token(logits, {}, o, &a), sample_token(logits, {}, o, &b));
}
