// When a TCP connection's sending is stalled by what the path will not carry, under a fake clock.
#include "proto/send_stall.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

using namespace std::chrono_literals;
using Action = SendStall::Action;
using Clock = std::chrono::steady_clock;

TEST(SendStall, AMovingConnectionIsLeftAlone) {
  SendStall stall;
  auto now = Clock::time_point{} + 1h;
  std::uint64_t acked = 0;
  for (int i = 0; i < 100; ++i) {
    acked += 100'000;
    // Timeouts now and then on a lossy path, but acknowledgements keep coming.
    const std::uint8_t timeouts = i % 10 == 0 ? 1 : 0;
    EXPECT_EQ(stall.observe({acked, 40, timeouts}, now), Action::none);
    now += 250ms;
  }
  EXPECT_FALSE(stall.fragments_allowed());
  EXPECT_EQ(stall.stalled_for(now), 250ms);
}

TEST(SendStall, AnIdleConnectionIsNotStalled) {
  SendStall stall;
  auto now = Clock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(stall.observe({5000, 0, 0}, now), Action::none);
    now += 1s;
  }
  EXPECT_FALSE(stall.fragments_allowed());
}

TEST(SendStall, ATimeoutWithNothingAcknowledgedLetsRoutersFragmentOnce) {
  SendStall stall;
  auto now = Clock::time_point{} + 1h;
  // The offer went through; then full-sized segments vanish.
  EXPECT_EQ(stall.observe({2000, 30, 0}, now), Action::none);
  now += 250ms;
  // Nothing acknowledged, but no timeout yet: the first retransmission may still repair a loss.
  EXPECT_EQ(stall.observe({2000, 30, 0}, now), Action::none);
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 1}, now), Action::allow_fragments);
  EXPECT_TRUE(stall.fragments_allowed());
  EXPECT_EQ(stall.stalled_for(now), 500ms);
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 2}, now), Action::none);  // said once
  now += 250ms;
  EXPECT_EQ(stall.observe({900'000, 30, 0}, now), Action::none);
  EXPECT_EQ(stall.stalled_for(now), 0ms);
}

TEST(SendStall, NothingAcknowledgedForLongGivesUp) {
  SendStall stall;
  auto now = Clock::time_point{} + 1h;
  EXPECT_EQ(stall.observe({2000, 30, 0}, now), Action::none);
  const auto stalled = now;
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 1}, now), Action::allow_fragments);
  while (now - stalled < SendStall::kGiveUp - 250ms) {
    now += 250ms;
    EXPECT_EQ(stall.observe({2000, 30, 5}, now), Action::none);
  }
  EXPECT_FALSE(stall.given_up());
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 6}, now), Action::give_up);
  EXPECT_TRUE(stall.given_up());
  EXPECT_EQ(stall.observe({2000, 30, 6}, now + 250ms), Action::none);  // said once
}

// The offer went through; then full-sized segments vanish, and the first retransmission timeout
// with nothing acknowledged lets routers fragment. Returns the time of that look.
Clock::time_point first_timeout(SendStall& stall) {
  auto now = Clock::time_point{} + 1h;
  EXPECT_EQ(stall.observe({2000, 30, 0}, now), Action::none);
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 1}, now), Action::allow_fragments);
  return now;
}

TEST(SendStall, WhereRoutersMayNotFragmentABlackHoleIsGivenUpAtOnce) {
  SendStall stall;
  auto now = first_timeout(stall);
  stall.fragments_refused();  // IPv6
  // A retransmission or two more may still repair a loss burst.
  for (std::uint8_t t = 1; t < SendStall::kBlackHoleTimeouts; ++t) {
    now += 250ms;
    EXPECT_EQ(stall.observe({2000, 30, t}, now), Action::none);
  }
  EXPECT_FALSE(stall.given_up());
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, SendStall::kBlackHoleTimeouts}, now), Action::give_up);
  EXPECT_TRUE(stall.given_up());
  EXPECT_TRUE(stall.black_hole());
  EXPECT_LT(stall.stalled_for(now), SendStall::kGiveUp);
  EXPECT_EQ(stall.observe({2000, 30, 4}, now + 250ms), Action::none);  // said once
  const auto e = stall_error("the connection (direct to [2001:db8::2]:4000)", stall.black_hole());
  EXPECT_TRUE(e.black_hole);
  EXPECT_EQ(e.code, Errc::peer_gone);
  EXPECT_NE(e.detail.find("PMTU black hole"), std::string::npos);
}

TEST(SendStall, ALossRepairedInTimeWhereRoutersMayNotFragmentIsLeftAlone) {
  SendStall stall;
  auto now = first_timeout(stall);
  stall.fragments_refused();
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, 2}, now), Action::none);
  now += 250ms;
  EXPECT_EQ(stall.observe({400'000, 30, 0}, now), Action::none);  // acknowledged: moving again
  now += 250ms;
  EXPECT_EQ(stall.observe({400'000, 30, 1}, now), Action::none);
  EXPECT_FALSE(stall.given_up());
  EXPECT_FALSE(stall.black_hole());
}

TEST(SendStall, WhereRoutersMayFragmentOnlyTheLongWaitGivesUp) {
  SendStall stall;
  auto now = first_timeout(stall);
  now += 250ms;
  EXPECT_EQ(stall.observe({2000, 30, SendStall::kBlackHoleTimeouts}, now), Action::none);
  EXPECT_FALSE(stall.given_up());
  EXPECT_FALSE(stall_error("the QUIC path").black_hole);
}

TEST(SendStall, APeerThatStoppedReadingIsNeverGivenUp) {
  // A full window: nothing in flight (the kernel probes the window), however long it lasts.
  SendStall stall;
  auto now = Clock::time_point{} + 1h;
  for (int i = 0; i < 600; ++i) {
    EXPECT_EQ(stall.observe({8'000'000, 0, 0}, now), Action::none);
    now += 250ms;
  }
  EXPECT_FALSE(stall.given_up());
}

TEST(SendStall, TheFirstLookIsOnlyABaseline) {
  // A connection first looked at in the middle of a timeout: no verdict without a second look.
  SendStall stall;
  const auto now = Clock::time_point{} + 1h;
  EXPECT_EQ(stall.observe({2000, 30, 3}, now), Action::none);
  EXPECT_EQ(stall.observe({2000, 30, 3}, now + 250ms), Action::allow_fragments);
}

}  // namespace
}  // namespace ferry::proto
