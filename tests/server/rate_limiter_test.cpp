#include "server/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace ferry::server {
namespace {

TEST(AddressRateLimiter, CapsPerAddressPerMinute) {
  AddressRateLimiter limiter(3);
  const auto t0 = AddressRateLimiter::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_TRUE(limiter.allow("a", t0));
  EXPECT_TRUE(limiter.allow("a", t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(limiter.allow("a", t0 + std::chrono::seconds(20)));
  EXPECT_TRUE(limiter.allow("b", t0 + std::chrono::seconds(20)));  // others are not affected
  EXPECT_TRUE(limiter.allow("a", t0 + std::chrono::seconds(61)));  // the first two left the window
}

TEST(RateBuckets, PerKeyBurstThenRate) {
  RateBuckets b({10, 20, 0, 100});
  const auto t0 = RateBuckets::Clock::time_point{} + std::chrono::hours(1);
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += b.take("a", t0) == RateBuckets::Verdict::allow;
  EXPECT_EQ(allowed, 20);  // the burst
  EXPECT_EQ(b.take("a", t0), RateBuckets::Verdict::key_limited);
  EXPECT_EQ(b.take("b", t0), RateBuckets::Verdict::allow);  // another source is not affected
  // A second later: 10 more.
  allowed = 0;
  for (int i = 0; i < 100; ++i) {
    allowed += b.take("a", t0 + std::chrono::seconds(1)) == RateBuckets::Verdict::allow;
  }
  EXPECT_EQ(allowed, 10);
}

TEST(RateBuckets, TotalBudgetAcrossKeys) {
  RateBuckets b({10, 20, 50, 100'000});
  const auto t0 = RateBuckets::Clock::time_point{} + std::chrono::hours(1);
  int allowed = 0;
  int total_limited = 0;
  for (int k = 0; k < 100; ++k) {
    const auto v = b.take("k" + std::to_string(k), t0);
    allowed += v == RateBuckets::Verdict::allow;
    total_limited += v == RateBuckets::Verdict::total_limited;
  }
  EXPECT_EQ(allowed, 50);
  EXPECT_EQ(total_limited, 50);
  EXPECT_EQ(b.take("fresh", t0 + std::chrono::milliseconds(100)), RateBuckets::Verdict::allow);
}

TEST(RateBuckets, KeysAreBoundedAndForgotten) {
  RateBuckets b({10, 20, 0, 3});
  const auto t0 = RateBuckets::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(b.take("a", t0), RateBuckets::Verdict::allow);
  EXPECT_EQ(b.take("b", t0), RateBuckets::Verdict::allow);
  EXPECT_EQ(b.take("c", t0), RateBuckets::Verdict::allow);
  EXPECT_EQ(b.take("d", t0), RateBuckets::Verdict::total_limited);  // the map is full
  // Once the others are full again (2 s), they are forgotten and room is made.
  EXPECT_EQ(b.take("d", t0 + std::chrono::seconds(5)), RateBuckets::Verdict::allow);
}

}  // namespace
}  // namespace ferry::server
