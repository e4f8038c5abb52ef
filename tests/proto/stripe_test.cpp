#include "proto/stripe.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ferry::proto::stripe {
namespace {

Bytes filled(std::size_t n, std::uint8_t from) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(from + i);
  return b;
}

TEST(Stripe, PreambleRoundTripsAndStandsApartFromAStreamHeader) {
  Preamble p;
  p.token.fill(0x5a);
  p.index = 2;
  p.count = 4;
  const auto enc = encode(p);
  ASSERT_TRUE(is_preamble(enc));
  auto d = decode_preamble(enc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->token, p.token);
  EXPECT_EQ(d->index, 2);
  EXPECT_EQ(d->count, 4);
  // A stream header is random bytes: it does not start with the magic.
  const Bytes header(kPreambleBytes, 0x66);
  EXPECT_FALSE(is_preamble(header));
  EXPECT_FALSE(decode_preamble(header));
  for (auto [index, count] : {std::pair{0, 1}, {0, 9}, {4, 4}, {0, 0}}) {
    auto bad = enc;
    bad[kPreambleBytes - 2] = static_cast<std::uint8_t>(index);
    bad[kPreambleBytes - 1] = static_cast<std::uint8_t>(count);
    EXPECT_FALSE(decode_preamble(bad)) << index << "/" << count;
  }
}

TEST(Stripe, FrameHeadersRefuseEmptyOversizedAndRunawayFrames) {
  const auto enc = encode(FrameHeader{123456789, 65536});
  auto h = decode_frame_header(enc.data());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->offset, 123456789u);
  EXPECT_EQ(h->length, 65536u);
  EXPECT_FALSE(decode_frame_header(encode(FrameHeader{0, 0}).data()));
  EXPECT_FALSE(decode_frame_header(encode(FrameHeader{0, 65537}).data()));
  EXPECT_FALSE(decode_frame_header(encode(FrameHeader{~std::uint64_t{0} - 10, 100}).data()));
}

TEST(Stripe, ReassemblerPutsFramesBackInOrder) {
  Reassembler r(1 << 20);
  ASSERT_TRUE(r.add(10, filled(10, 10)));
  ASSERT_TRUE(r.add(30, filled(5, 30)));
  EXPECT_EQ(r.ready(), 0u);  // the first ten bytes are missing
  EXPECT_TRUE(r.gaps());
  ASSERT_TRUE(r.add(0, filled(10, 0)));
  EXPECT_EQ(r.ready(), 20u);
  ASSERT_TRUE(r.add(20, filled(10, 20)));
  EXPECT_EQ(r.ready(), 35u);
  EXPECT_FALSE(r.gaps());
  Bytes out(35);
  EXPECT_EQ(r.take(out.data(), 7), 7u);
  EXPECT_EQ(r.take(out.data() + 7, 100), 28u);
  EXPECT_EQ(out, filled(35, 0));
  EXPECT_EQ(r.ready(), 0u);
}

TEST(Stripe, ReassemblerRefusesRepeatsAndOverlaps) {
  Reassembler r(1 << 20);
  ASSERT_TRUE(r.add(0, filled(10, 0)));
  EXPECT_FALSE(r.add(5, filled(10, 0)));  // before what is in order
  ASSERT_TRUE(r.add(20, filled(10, 0)));
  EXPECT_FALSE(r.add(15, filled(10, 0)));  // runs into a held frame
  EXPECT_FALSE(r.add(25, filled(2, 0)));   // inside a held frame
  EXPECT_FALSE(r.add(20, filled(10, 0)));  // the same again
  EXPECT_FALSE(r.add(40, Bytes{}));
  EXPECT_TRUE(r.add(10, filled(10, 0)));
  EXPECT_EQ(r.ready(), 30u);
}

TEST(Stripe, ReassemblerBoundsWhatItHoldsButAlwaysTakesTheFrameItWaitsFor) {
  Reassembler r(2 * kHeldFrameCost + 100);
  ASSERT_TRUE(r.admits(60));
  ASSERT_TRUE(r.add(60, filled(60, 0)));
  EXPECT_TRUE(r.admits(200));  // 60 bytes and a frame held, under the bound
  ASSERT_TRUE(r.add(200, filled(50, 0)));
  EXPECT_FALSE(r.admits(300));  // 110 bytes and two frames held: frames ahead wait
  EXPECT_TRUE(r.admits(0));     // the one the stream waits for does not
  ASSERT_TRUE(r.add(0, filled(60, 0)));
  EXPECT_EQ(r.ready(), 120u);
  // In order but unread: a reader that lags holds the members back too, even the next frame.
  EXPECT_FALSE(r.admits(120));
  Bytes out(120);
  r.take(out.data(), out.size());
  EXPECT_TRUE(r.admits(120));
  EXPECT_EQ(r.held_bytes(), 50u);
  EXPECT_EQ(r.cost(), 50 + kHeldFrameCost);
}

TEST(Stripe, ReassemblerCountsWhatTinyFramesReallyCost) {
  // A hostile member sends one-byte frames out of order: each costs far more than its byte
  // (once the bound counted bytes only, and 2 M such frames took 214 MB of a 16 MiB bound).
  constexpr std::size_t kLimit = std::size_t{1} << 20;
  Reassembler r(kLimit);
  std::size_t held = 0;
  for (std::uint64_t offset = 1; r.admits(offset); offset += 2, ++held) {
    ASSERT_TRUE(r.add(offset, filled(1, 0)));
  }
  EXPECT_LE(held, kLimit / (1 + kHeldFrameCost) + 1);
  EXPECT_GE(held, kLimit / (1 + kHeldFrameCost) - 1);
  EXPECT_LT(r.cost(), kLimit + 1 + kHeldFrameCost);
}

TEST(Stripe, ReassemblerTakesMoreOnceItsLimitIsRaised) {
  Reassembler r(kHeldFrameCost + 10);
  ASSERT_TRUE(r.add(10, filled(10, 0)));
  EXPECT_FALSE(r.admits(30));
  r.set_limit(std::size_t{1} << 20);
  EXPECT_TRUE(r.admits(30));
}

using Gather = Gathering<int, std::string>;
using Verdict = Gather::Verdict;
using namespace std::chrono_literals;

Preamble member(std::uint8_t token, std::uint8_t index, std::uint8_t count) {
  Preamble p;
  p.token.fill(token);
  p.index = index;
  p.count = count;
  return p;
}

TEST(StripeGathering, AGroupIsOnePipeOnceAllItsMembersCameInAnyOrder) {
  Gather g;
  const Gather::Clock::time_point t0{};
  EXPECT_FALSE(g.next_deadline());
  EXPECT_EQ(g.add(member(1, 2, 3), "a", 12, 7, t0).verdict, Verdict::first);
  EXPECT_EQ(g.next_deadline(), t0 + kGatherWait);
  const auto second = g.add(member(1, 0, 3), "a", 10, 8, t0 + 1s);
  EXPECT_EQ(second.verdict, Verdict::joined);
  EXPECT_EQ(second.tag, 7U);  // the first member's: the pipe's
  EXPECT_EQ(g.held(), 2U);
  EXPECT_EQ(g.held("a"), 2U);
  EXPECT_EQ(g.held("b"), 0U);
  const auto last = g.add(member(1, 1, 3), "a", 11, 9, t0 + 2s);
  EXPECT_EQ(last.verdict, Verdict::complete);
  EXPECT_EQ(last.tag, 7U);
  EXPECT_EQ(last.members, (std::vector<int>{10, 11, 12}));  // by index
  EXPECT_EQ(g.held(), 0U);
  EXPECT_FALSE(g.next_deadline());
  EXPECT_TRUE(g.expire(t0 + 1h).empty());
}

TEST(StripeGathering, AMemberThatFitsNoGroupIsRefusedAndChangesNothing) {
  Gather g;
  const Gather::Clock::time_point t0{};
  ASSERT_EQ(g.add(member(1, 0, 4), "a", 1, 1, t0).verdict, Verdict::first);
  EXPECT_EQ(g.add(member(1, 0, 4), "a", 2, 2, t0).verdict, Verdict::refused);  // index taken
  EXPECT_EQ(g.add(member(1, 1, 3), "a", 3, 3, t0).verdict, Verdict::refused);  // another count
  EXPECT_EQ(g.add(member(1, 1, 4), "b", 4, 4, t0).verdict, Verdict::refused);  // another address
  EXPECT_EQ(g.add(member(1, 4, 4), "a", 5, 5, t0).verdict, Verdict::refused);  // no such index
  EXPECT_EQ(g.add(member(2, 0, 1), "a", 6, 6, t0).verdict, Verdict::refused);  // one is no group
  EXPECT_EQ(g.add(member(2, 0, 9), "a", 7, 7, t0).verdict, Verdict::refused);  // more than 8
  EXPECT_EQ(g.held(), 1U);
  for (std::uint8_t i = 1; i < 3; ++i) {
    EXPECT_EQ(g.add(member(1, i, 4), "a", 10 + i, 10 + i, t0).verdict, Verdict::joined);
  }
  const auto done = g.add(member(1, 3, 4), "a", 13, 13, t0);
  ASSERT_EQ(done.verdict, Verdict::complete);
  EXPECT_EQ(done.members, (std::vector<int>{1, 11, 12, 13}));
}

TEST(StripeGathering, AGroupNotCompleteWithinItsWaitIsDroppedAlone) {
  Gather g;
  const Gather::Clock::time_point t0{};
  g.add(member(1, 0, 8), "a", 1, 1, t0);
  g.add(member(1, 5, 8), "a", 2, 2, t0 + 1s);
  g.add(member(2, 0, 2), "b", 3, 3, t0 + 2s);
  EXPECT_EQ(g.next_deadline(), t0 + kGatherWait);
  EXPECT_TRUE(g.expire(t0 + kGatherWait - 1ms).empty());
  const auto dropped = g.expire(t0 + kGatherWait);
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_EQ(dropped[0].tag, 1U);
  EXPECT_EQ(dropped[0].from, "a");
  EXPECT_EQ(dropped[0].arrived, 2U);
  EXPECT_EQ(dropped[0].count, 8U);
  EXPECT_EQ(g.held(), 1U);
  EXPECT_EQ(g.next_deadline(), t0 + 2s + kGatherWait);
  // A late member of the dropped group starts a group of its own, which waits in turn.
  EXPECT_EQ(g.add(member(1, 6, 8), "a", 4, 4, t0 + 6s).verdict, Verdict::first);
  EXPECT_EQ(g.add(member(2, 1, 2), "b", 5, 5, t0 + 6s).verdict, Verdict::complete);
  g.clear();
  EXPECT_EQ(g.held(), 0U);
}

}  // namespace
}  // namespace ferry::proto::stripe
