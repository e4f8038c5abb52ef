#include "proto/http_tunnel.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";

TEST(HttpTunnel, TargetsRoundTrip) {
  for (const auto& t : {TunnelTarget{std::string(kToken), TunnelDirection::up, 0, false},
                        TunnelTarget{std::string(kToken), TunnelDirection::up, 12345, true},
                        TunnelTarget{std::string(kToken), TunnelDirection::down,
                                     9'223'372'036'854'775'807ULL, false}}) {
    const auto parsed = parse_tunnel_target(tunnel_target(t));
    ASSERT_TRUE(parsed) << tunnel_target(t);
    EXPECT_EQ(parsed->token, t.token);
    EXPECT_EQ(parsed->direction, t.direction);
    EXPECT_EQ(parsed->offset, t.offset);
    EXPECT_EQ(parsed->fin, t.fin);
  }
  EXPECT_EQ(tunnel_target({std::string(kToken), TunnelDirection::up, 7, true}),
            "/v1/tunnel/0123456789abcdef0123456789abcdef/up/7?fin");
}

TEST(HttpTunnel, MalformedTargetsAreRefused) {
  const std::string t(kToken);
  for (const std::string& bad : {
           "/v1/tunnel/" + t,                               // no direction
           "/v1/tunnel/" + t + "/up/",                      // no offset
           "/v1/tunnel/" + t + "/up/01",                    // leading zero
           "/v1/tunnel/" + t + "/up/-1",                    // sign
           "/v1/tunnel/" + t + "/up/1x",                    // trailing junk
           "/v1/tunnel/" + t + "/up/99999999999999999999",  // too long
           "/v1/tunnel/" + t + "/up/18446744073709551616",  // overflows
           "/v1/tunnel/" + t + "/down/0?fin",               // fin is the uploader's
           "/v1/tunnel/" + t + "/up/0?fin=1",               // other queries
           "/v1/tunnel/" + t + "/sideways/0",               // direction
           "/v1/tunnel/" + t.substr(1) + "/up/0",           // short token
           std::string("/v1/tunnel/0123456789ABCDEF0123456789ABCDEF/up/0"),  // upper case
           "/v1/tunnels/" + t + "/up/0",
       }) {
    EXPECT_FALSE(parse_tunnel_target(bad)) << bad;
  }
  EXPECT_TRUE(valid_tunnel_token(kToken));
  EXPECT_FALSE(valid_tunnel_token("0123456789abcdef0123456789abcdeg"));
}

}  // namespace
}  // namespace ferry::proto
