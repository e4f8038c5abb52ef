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
  EXPECT_FALSE(decode_relay_hello(Bytes(enc.begin(), enc.end() - 1)));
}

}  // namespace
}  // namespace ferry::proto
