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

}  // namespace
}  // namespace ferry::server
