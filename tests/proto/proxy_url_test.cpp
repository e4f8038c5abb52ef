#include "proto/proxy_url.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(ProxyUrl, ParsesForms) {
  auto a = parse_proxy_url("http://user:p%40ss@proxy.example:8080/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "proxy.example");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->user, "user");
  EXPECT_EQ(a->password, "p@ss");
  EXPECT_EQ(a->authorization(), "Basic dXNlcjpwQHNz");
  EXPECT_EQ(a->to_string(), "http://user@proxy.example:8080");
  auto bare = parse_proxy_url("10.0.0.1:3128");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 3128);
  EXPECT_TRUE(bare->authorization().empty());
  auto noport = parse_proxy_url("http://proxy");
  ASSERT_TRUE(noport);
  EXPECT_EQ(noport->port, 80);
  auto v6 = parse_proxy_url("http://[2001:db8::1]:3128");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "2001:db8::1");
}

TEST(ProxyUrl, ParsesSocks5AsCurlDoes) {
  auto local = parse_proxy_url("socks5://u:p%3Aw@10.0.0.1");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->scheme, ProxyScheme::socks5);  // names resolved here
  EXPECT_EQ(local->port, 1080);
  EXPECT_EQ(local->user, "u");
  EXPECT_EQ(local->password, "p:w");
  EXPECT_EQ(local->to_string(), "socks5://u@10.0.0.1:1080");
  auto remote = parse_proxy_url("socks5h://proxy.example:9050");
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->scheme, ProxyScheme::socks5h);  // the proxy resolves them
  EXPECT_EQ(remote->port, 9050);
  EXPECT_EQ(parse_proxy_url("http://p:3128")->scheme, ProxyScheme::http);
}

TEST(ProxyUrl, RejectsUnusable) {
  for (const char* bad : {"https://proxy:443", "socks4://proxy:1080", "ftp://p", "http://:3128",
                          "http://p:0", "http://p:99999", "http://[::1"}) {
    EXPECT_FALSE(parse_proxy_url(bad)) << bad;
  }
}

TEST(ProxyUrl, NoProxyMatching) {
  EXPECT_TRUE(no_proxy_matches("*", "anything"));
  EXPECT_TRUE(no_proxy_matches("localhost,127.0.0.1", "127.0.0.1"));
  EXPECT_TRUE(no_proxy_matches(".example.org", "ferry.example.org"));
  EXPECT_TRUE(no_proxy_matches("example.org", "ferry.EXAMPLE.org"));
  EXPECT_TRUE(no_proxy_matches(" a.b , example.org:4300 ", "example.org"));
  EXPECT_FALSE(no_proxy_matches("example.org", "badexample.org"));
  EXPECT_FALSE(no_proxy_matches("", "example.org"));
  EXPECT_FALSE(no_proxy_matches("other.org", "example.org"));
}

}  // namespace
}  // namespace ferry::proto
