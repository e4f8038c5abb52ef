#include "proto/lan_discovery.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(LanDiscovery, QueryAndAnswerRoundTrip) {
  const LanQuery q{"42", Bytes(kLanNonceBytes, 7)};
  auto dq = decode_lan(encode_lan(q));
  ASSERT_TRUE(dq);
  EXPECT_EQ(std::get<LanQuery>(*dq).nameplate, "42");
  EXPECT_EQ(std::get<LanQuery>(*dq).nonce, q.nonce);
  const LanAnswer a{"42", Bytes(kLanNonceBytes, 7), 40123, Bytes(kLanNonceBytes, 9)};
  auto da = decode_lan(encode_lan(a));
  ASSERT_TRUE(da);
  const auto& got = std::get<LanAnswer>(*da);
  EXPECT_EQ(got.port, 40123);
  EXPECT_EQ(got.session_nonce, a.session_nonce);
  EXPECT_EQ(encode_lan(got), encode_lan(a));
}

TEST(LanDiscovery, EveryTruncationAndCorruptionIsRefused) {
  const Bytes good =
      encode_lan(LanAnswer{"7", Bytes(kLanNonceBytes, 1), 9, Bytes(kLanNonceBytes, 2)});
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decode_lan(ByteView(good.data(), n))) << n;
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(decode_lan(longer));
  Bytes bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_FALSE(decode_lan(bad_magic));
  Bytes bad_nameplate = encode_lan(LanQuery{"7", Bytes(kLanNonceBytes, 1)});
  bad_nameplate[11] = 'x';
  EXPECT_FALSE(decode_lan(bad_nameplate));
  Bytes zero_port = good;
  zero_port[good.size() - kLanNonceBytes - 1] = 0;
  zero_port[good.size() - kLanNonceBytes - 2] = 0;
  EXPECT_FALSE(decode_lan(zero_port));
}

TEST(LanDiscovery, SessionIdDependsOnTheNonce) {
  EXPECT_NE(lan_session_id(Bytes(16, 1)), lan_session_id(Bytes(16, 2)));
  EXPECT_EQ(lan_session_id(Bytes(16, 1)).size(), 32u);
}

}  // namespace
}  // namespace ferry::proto
