#include "proto/server_url.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(ServerUrl, Parses) {
  auto u = parse_server_url("http://127.0.0.1:4300");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 4300);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->rendezvous_target(), "/v1/rendezvous");
  auto s = parse_server_url("https://ferry.example.org/base/");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->tls);
  EXPECT_EQ(s->port, 443);
  EXPECT_EQ(s->base_path, "/base");
  EXPECT_EQ(s->to_string(), "https://ferry.example.org/base");
  auto v6 = parse_server_url("http://[::1]:99");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "http://[::1]:99");
}

TEST(ServerUrl, RejectsGarbage) {
  for (const char* bad :
       {"", "4300", "127.0.0.1:4300", "ftp://x", "http://", "http://:80", "http://h:0",
        "http://h:65536", "http://h:12ab", "http://u:p@h", "http://[::1", "http://h h",
        "http://h/<script>", "javascript:alert(1)"}) {
    EXPECT_FALSE(parse_server_url(bad)) << bad;
  }
}

}  // namespace
}  // namespace ferry::proto
