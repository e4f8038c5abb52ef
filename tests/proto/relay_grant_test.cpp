#include "proto/relay_grant.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(RelayGrant, SignedGrantChecksOutUntilItExpires) {
  RelayKey key{};
  key.fill(7);
  RelayGrant g;
  g.session.fill(0xab);
  g.expires = 1'000'000;
  const Bytes token = sign_relay_grant(key, g);
  ASSERT_EQ(token.size(), kRelayGrantBytes);
  RelayGrant out;
  ASSERT_EQ(check_relay_grant(key, token, 999'999, out), GrantCheck::ok);
  EXPECT_EQ(out.session, g.session);
  EXPECT_EQ(out.expires, g.expires);
  EXPECT_EQ(check_relay_grant(key, token, 1'000'000, out), GrantCheck::expired);
}

TEST(RelayGrant, AnyChangedBitOrOtherKeyIsForged) {
  RelayKey key{};
  key.fill(7);
  RelayGrant g;
  g.expires = 5000;
  const Bytes token = sign_relay_grant(key, g);
  RelayGrant out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    Bytes bad = token;
    bad[i] ^= 0x01;
    EXPECT_EQ(check_relay_grant(key, bad, 0, out), GrantCheck::forged) << i;
  }
  RelayKey other = key;
  other[0] ^= 1;
  EXPECT_EQ(check_relay_grant(other, token, 0, out), GrantCheck::forged);
  EXPECT_EQ(check_relay_grant(key, Bytes(token.begin(), token.end() - 1), 0, out),
            GrantCheck::malformed);
}

TEST(RelayGrant, MatchesTheDocumentedConstruction) {
  // session 16 x 0x01, expiry 0x0102030405060708, key 32 x 0x02: MAC = BLAKE2b-128 keyed over
  // "ferry relay grant v1" || session || expiry (docs/protocol.md; Python's hashlib agrees).
  RelayKey key{};
  key.fill(2);
  RelayGrant g;
  g.session.fill(1);
  g.expires = 0x0102030405060708;
  const Bytes token = sign_relay_grant(key, g);
  EXPECT_EQ(to_hex(ByteView(token).first(24)),
            "01010101010101010101010101010101"
            "0102030405060708");
  EXPECT_EQ(to_hex(ByteView(token).subspan(24)), "b4d1308eaba7c5accef7d3988c236eba");
}

}  // namespace
}  // namespace ferry::proto
