#include "proto/redis_url.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(RedisUrl, ParsesHostPortDbAndCredentials) {
  auto u = parse_redis_url("redis://127.0.0.1");
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0u);
  EXPECT_FALSE(u->tls);
  EXPECT_TRUE(u->password.empty());

  u = parse_redis_url("rediss://ferry:s%40cret%3A1@redis.example.org:6380/3");
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "redis.example.org");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->username, "ferry");
  EXPECT_EQ(u->password, "s@cret:1");
  EXPECT_EQ(u->db, 3u);

  u = parse_redis_url("redis://:hunter2@[::1]:7000/0");
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->username, "");
  EXPECT_EQ(u->password, "hunter2");

  u = parse_redis_url("redis://hunter2@localhost");  // a lone user-info part is the password
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(u->password, "hunter2");
}

TEST(RedisUrl, NeverShowsTheCredentials) {
  const auto u = parse_redis_url("redis://user:topsecret@10.0.0.5:6379/2");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->to_string(), "redis://***@10.0.0.5:6379/2");
  const auto v6 = parse_redis_url("rediss://[2001:db8::1]");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to_string(), "rediss://[2001:db8::1]:6379/0");
}

TEST(RedisUrl, RejectsGarbageWithAReason) {
  for (const std::string& bad : std::vector<std::string>{
           "", "127.0.0.1:6379", "http://127.0.0.1", "redis://", "redis://:pw@", "redis://h:99999",
           "redis://h:6379/16", "redis://h/x", "redis://h/1/2", "redis://a b", "redis://h\x1b[2J",
           "redis://%zz@h", "redis://u:%4@h", "redis://" + std::string(3000, 'a')}) {
    const auto u = parse_redis_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_EQ(u.error().code, Errc::usage);
    EXPECT_NE(u.error().detail.find("Redis URL"), std::string::npos);
  }
}

}  // namespace
}  // namespace ferry::proto
