#include "proto/punch.hpp"

#include <gtest/gtest.h>

#include "proto/stun.hpp"

namespace ferry::proto {
namespace {

Key key_of(std::uint8_t b) {
  Key k{};
  k.fill(b);
  return k;
}

TEST(Punch, ProbeRoundTripsUnderTheSessionKey) {
  Probe p{ProbeKind::pong, Side::receiver, {1, 2, 3, 4, 5, 6, 7, 8}};
  const auto wire = encode_probe(p, key_of(7));
  ASSERT_EQ(wire.size(), kProbeBytes);
  EXPECT_EQ(classify_datagram(wire), DatagramKind::probe);
  const auto back = decode_probe(wire, key_of(7));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, ProbeKind::pong);
  EXPECT_EQ(back->from, Side::receiver);
  EXPECT_EQ(back->nonce, p.nonce);
}

TEST(Punch, AnotherKeyOrAnyFlippedBitIsRefused) {
  const auto wire = encode_probe({ProbeKind::ping, Side::sender, {9}}, key_of(1));
  EXPECT_FALSE(decode_probe(wire, key_of(2)));
  for (std::size_t i = 0; i < wire.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = wire;
      bad[i] ^= static_cast<std::uint8_t>(1 << bit);
      EXPECT_FALSE(decode_probe(bad, key_of(1))) << i << "/" << bit;
    }
  }
  EXPECT_FALSE(decode_probe(ByteView(wire).subspan(0, 25), key_of(1)));
}

TEST(Punch, DemultiplexesStunProbesAndQuic) {
  EXPECT_EQ(classify_datagram(encode_binding_request(StunTransactionId{})), DatagramKind::stun);
  const Bytes quic_long{0xC3, 0, 0, 0, 1};
  const Bytes quic_short{0x41, 1, 2, 3};
  // A short-header packet with the fixed bit greased away (RFC 9287) is still QUIC.
  Bytes greased(40, 0x00);
  greased[0] = 0x16;
  EXPECT_EQ(classify_datagram(quic_long), DatagramKind::quic);
  EXPECT_EQ(classify_datagram(quic_short), DatagramKind::quic);
  EXPECT_EQ(classify_datagram(greased), DatagramKind::quic);
  EXPECT_EQ(classify_datagram(Bytes(26, 0x3C)), DatagramKind::quic);
  // STUN-shaped without the magic cookie is not ours to answer.
  auto no_cookie = encode_binding_request(StunTransactionId{});
  no_cookie[4] = 0;
  EXPECT_EQ(classify_datagram(no_cookie), DatagramKind::quic);
}

}  // namespace
}  // namespace ferry::proto
