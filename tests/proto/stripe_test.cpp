#include "proto/stripe.hpp"

#include <gtest/gtest.h>

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
  Reassembler r(100);
  ASSERT_TRUE(r.admits(60));
  ASSERT_TRUE(r.add(60, filled(60, 0)));
  EXPECT_TRUE(r.admits(200));  // 60 held, under the bound
  ASSERT_TRUE(r.add(200, filled(50, 0)));
  EXPECT_FALSE(r.admits(300));  // 110 held: frames ahead wait
  EXPECT_TRUE(r.admits(0));     // the one the stream waits for does not
  ASSERT_TRUE(r.add(0, filled(60, 0)));
  EXPECT_EQ(r.ready(), 120u);
  // In order but unread: a reader that lags holds the members back too, even the next frame.
  EXPECT_FALSE(r.admits(120));
  Bytes out(120);
  r.take(out.data(), out.size());
  EXPECT_TRUE(r.admits(120));
  EXPECT_EQ(r.held_bytes(), 50u);
}

}  // namespace
}  // namespace ferry::proto::stripe
