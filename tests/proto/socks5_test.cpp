// The SOCKS5 client's messages (RFC 1928, RFC 1929) byte for byte, and its reading of every kind
// of answer a proxy (or something that is not one) can give.
#include "proto/socks5.hpp"

#include <gtest/gtest.h>

namespace ferry::proto::socks5 {
namespace {

TEST(Socks5, GreetingOffersPasswordOnlyWithCredentials) {
  EXPECT_EQ(greeting(false), (Bytes{5, 1, 0}));
  EXPECT_EQ(greeting(true), (Bytes{5, 2, 0, 2}));
}

TEST(Socks5, TheProxysChoiceIsReadStrictly) {
  EXPECT_EQ(*parse_choice(Bytes{5, 0}, false), Method::none);
  EXPECT_EQ(*parse_choice(Bytes{5, 2}, true), Method::password);
  // No credentials given and the proxy wants some: say how to give them.
  auto wants = parse_choice(Bytes{5, 0xFF}, false);
  ASSERT_FALSE(wants);
  EXPECT_NE(wants.error().detail.find("socks5h://user:password@"), std::string::npos);
  EXPECT_FALSE(parse_choice(Bytes{5, 0xFF}, true));
  EXPECT_FALSE(parse_choice(Bytes{5, 2}, false));  // a method never offered
  // An HTTP proxy answering a SOCKS greeting is not a SOCKS5 proxy.
  auto http = parse_choice(as_bytes("HT"), false);
  ASSERT_FALSE(http);
  EXPECT_NE(http.error().detail.find("not as a SOCKS5 proxy"), std::string::npos);
}

TEST(Socks5, PasswordLoginFollowsRfc1929) {
  EXPECT_EQ(*password_request("bob", "pw"), (Bytes{1, 3, 'b', 'o', 'b', 2, 'p', 'w'}));
  EXPECT_FALSE(password_request("", "pw"));
  EXPECT_FALSE(password_request(std::string(256, 'u'), "pw"));
  EXPECT_TRUE(parse_password_reply(Bytes{1, 0}));
  auto refused = parse_password_reply(Bytes{1, 1});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().detail.find("did not accept the username and password"),
            std::string::npos);
}

TEST(Socks5, ConnectSendsAddressesAsAddressesAndNamesAsNames) {
  EXPECT_EQ(*connect_request("192.0.2.7", 443), (Bytes{5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xBB}));
  auto v6 = connect_request("2001:db8::1", 80);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->size(), 4u + 16 + 2);
  EXPECT_EQ((*v6)[3], 4);
  EXPECT_EQ(*connect_request("h.example", 1),
            (Bytes{5, 1, 0, 3, 9, 'h', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 1}));
  EXPECT_FALSE(connect_request(std::string(256, 'a'), 1));
}

TEST(Socks5, RepliesOfEveryAddressKindAndEveryFailure) {
  const Bytes v4{5, 0, 0, 1, 10, 0, 0, 1, 0x04, 0x38};
  EXPECT_EQ(*reply_length(ByteView(v4).subspan(0, 5)), v4.size());
  EXPECT_TRUE(parse_reply(v4));
  Bytes name{5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 80};
  EXPECT_EQ(*reply_length(ByteView(name).subspan(0, 5)), name.size());
  EXPECT_TRUE(parse_reply(name));
  Bytes v6{5, 0, 0, 4};
  v6.resize(4 + 16 + 2);
  EXPECT_EQ(*reply_length(ByteView(v6).subspan(0, 5)), v6.size());
  EXPECT_TRUE(parse_reply(v6));
  // A truncated or padded reply is malformed.
  EXPECT_FALSE(parse_reply(ByteView(v4).subspan(0, 9)));
  Bytes padded = v4;
  padded.push_back(0);
  EXPECT_FALSE(parse_reply(padded));
  // Each failure code becomes a sentence (rule set, refused, unreachable...).
  const Bytes not_allowed{5, 2, 0, 1, 0, 0, 0, 0, 0, 0};
  auto r = parse_reply(not_allowed);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("does not allow this connection"), std::string::npos);
  const Bytes refused{5, 5, 0, 1, 0, 0, 0, 0, 0, 0};
  EXPECT_NE(parse_reply(refused).error().detail.find("connection refused"), std::string::npos);
  // A failure without a usable address still names its code.
  const Bytes bare{5, 4, 0, 0, 0};
  EXPECT_EQ(*reply_length(bare), 5u);
  EXPECT_NE(parse_reply(bare).error().detail.find("cannot reach that host"), std::string::npos);
  EXPECT_FALSE(reply_length(Bytes{4, 0, 0, 1, 0}));
}

}  // namespace
}  // namespace ferry::proto::socks5
