#include "proto/relay_hello.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(RelayHello, RoundTripAndRejects) {
  RelayHello h{Side::receiver, {}};
  h.grant.fill(0x42);
  const Bytes enc = encode(h);
  ASSERT_EQ(enc.size(), kRelayHelloBytes);
  auto d = decode_relay_hello(enc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->side, Side::receiver);
  EXPECT_EQ(d->grant, h.grant);
  Bytes bad = enc;
  bad[5] = 'X';
  EXPECT_FALSE(decode_relay_hello(bad));
  bad = enc;
  bad[0] = 'G';
  EXPECT_FALSE(decode_relay_hello(bad));
  bad = enc;
  bad[4] = 1;  // the previous version, whose grants were unsigned
  EXPECT_FALSE(decode_relay_hello(bad));
  EXPECT_FALSE(decode_relay_hello(Bytes(enc.begin(), enc.end() - 1)));
}

TEST(RelayFrames, DataAndEndHeaders) {
  const auto data = encode_relay_data_header(70000);
  auto h = decode_relay_frame_header(data.data());
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->end);
  EXPECT_EQ(h->length, 70000u);

  const Bytes end = encode_relay_end(RelayStatus::limit, "it reached the limit");
  h = decode_relay_frame_header(end.data());
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->end);
  ASSERT_EQ(h->length, end.size() - kRelayFrameHeaderBytes);
  const Error e = decode_relay_end(ByteView(end).subspan(kRelayFrameHeaderBytes), "r:1");
  EXPECT_EQ(e.code, Errc::relay_limit);
  EXPECT_EQ(e.detail, "relay at r:1: it reached the limit");

  // Empty, oversized and control-character frames.
  const std::array<std::uint8_t, 4> zero{};
  EXPECT_FALSE(decode_relay_frame_header(zero.data()));
  const auto huge = encode_relay_data_header(kRelayMaxFrame + 1);
  EXPECT_FALSE(decode_relay_frame_header(huge.data()));
  const std::array<std::uint8_t, 4> long_end{0x80, 0, 0x10, 0};
  EXPECT_FALSE(decode_relay_frame_header(long_end.data()));
  const Bytes nasty = {static_cast<std::uint8_t>(RelayStatus::forged), 'a', 0x1b, '[', 'b'};
  const Error n = decode_relay_end(nasty, "r");
  EXPECT_EQ(n.code, Errc::relay_refused);
  EXPECT_EQ(n.detail, "relay at r: a?[b");
  EXPECT_EQ(encode_relay_end(RelayStatus::limit, std::string(5000, 'x')).size(),
            kRelayFrameHeaderBytes + kRelayMaxEndText);
}

}  // namespace
}  // namespace ferry::proto
