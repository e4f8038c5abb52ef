#include "proto/direct_code.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(DirectCode, RoundTripsAddressesAndSecret) {
  DirectCode c;
  c.secret = Bytes(16, 0x42);
  c.addresses = {{*parse_ip("192.168.1.20"), 40000},
                 {*parse_ip("203.0.113.6"), 50117},
                 {*parse_ip("2001:db8::1"), 443}};
  const std::string text = format_direct_code(c);
  EXPECT_TRUE(text.starts_with("direct-"));
  EXPECT_TRUE(looks_like_direct_code(text));
  const auto back = parse_direct_code(text);
  ASSERT_TRUE(back) << back.error().detail;
  EXPECT_EQ(back->secret, c.secret);
  EXPECT_EQ(back->addresses, c.addresses);
  EXPECT_EQ(direct_secret(*back).kind, SecretKind::link);
  EXPECT_EQ(direct_secret(*back).link_secret, c.secret);
}

TEST(DirectCode, DamagedCodesAreRefusedWithASentence) {
  DirectCode c;
  c.secret = Bytes(16, 1);
  c.addresses = {{*parse_ip("10.0.0.1"), 1}};
  const std::string good = format_direct_code(c);
  for (const std::string& bad :
       {std::string("direct-"), std::string("direct-$$"), good.substr(0, good.size() - 3),
        good + "AAAA", std::string("7-acorn-zebra"), std::string("direct-AQ")}) {
    const auto r = parse_direct_code(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::usage);
  }
  // Port 0 and an unknown family are refused too.
  Bytes raw{1};
  append(raw, Bytes(16, 0));
  append(raw, Bytes{1, 4, 10, 0, 0, 1, 0, 0});
  EXPECT_FALSE(parse_direct_code("direct-" + to_base64url(raw)));
  raw.back() = 1;
  raw[18] = 5;
  EXPECT_FALSE(parse_direct_code("direct-" + to_base64url(raw)));
}

TEST(DirectCode, AtMostEightAddresses) {
  DirectCode c;
  c.secret = Bytes(16, 3);
  for (int i = 1; i <= 12; ++i)
    c.addresses.push_back({Bytes{10, 0, 0, static_cast<std::uint8_t>(i)}, 9});
  const auto back = parse_direct_code(format_direct_code(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->addresses.size(), kDirectMaxAddresses);
}

}  // namespace
}  // namespace ferry::proto
