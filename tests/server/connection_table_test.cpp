#include "server/connection_table.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "server/client_address.hpp"

namespace ferry::server {
namespace {

TEST(ConnectionTable, RefusesPastTheGroupCap) {
  ConnectionTable t({10, 2});
  EXPECT_TRUE(t.admit("a").id);
  EXPECT_TRUE(t.admit("a").id);
  const auto third = t.admit("a");
  EXPECT_FALSE(third.id);
  EXPECT_EQ(third.refused, Refusal::address_full);
  EXPECT_TRUE(t.admit("b").id);  // others are not affected
  EXPECT_EQ(t.size(), 3U);
}

TEST(ConnectionTable, FullServerEvictsTheOldestUnprovenConnection) {
  ConnectionTable t({4, 4});
  const auto a1 = *t.admit("attacker").id;
  const auto proven = *t.admit("honest").id;
  t.set_stage(proven, ConnectionStage::rendezvous);
  const auto a2 = *t.admit("attacker").id;
  const auto fresh = *t.admit("honest").id;  // still in its handshake, but the youngest
  auto next = t.admit("newcomer");
  ASSERT_TRUE(next.id);
  ASSERT_TRUE(next.evicted);
  EXPECT_EQ(*next.evicted, a1);
  EXPECT_EQ(t.size(), 4U);
  EXPECT_EQ(t.in_group("attacker"), 1U);
  t.remove(a1);  // the evicted connection unwinds later: a no-op
  EXPECT_EQ(t.size(), 4U);
  next = t.admit("another");
  ASSERT_TRUE(next.evicted);
  EXPECT_EQ(*next.evicted, a2);  // the proven one is skipped
  t.set_stage(fresh, ConnectionStage::relay);
  EXPECT_EQ(t.in_group("honest"), 2U);
}

TEST(ConnectionTable, ProvenConnectionsAreNeverEvicted) {
  ConnectionTable t({2, 2});
  const auto a = *t.admit("x").id;
  const auto b = *t.admit("y").id;
  t.set_stage(a, ConnectionStage::rendezvous);
  t.set_stage(b, ConnectionStage::relay);
  const auto c = t.admit("z");
  EXPECT_FALSE(c.id);
  EXPECT_FALSE(c.evicted);
  EXPECT_EQ(c.refused, Refusal::server_full);
  t.remove(a);
  EXPECT_TRUE(t.admit("z").id);
}

TEST(ConnectionTable, CountsByStage) {
  ConnectionTable t({10, 10});
  const auto a = *t.admit("x").id;
  const auto b = *t.admit("x").id;
  t.set_stage(a, ConnectionStage::http);
  t.set_stage(b, ConnectionStage::relay);
  auto s = t.by_stage();
  EXPECT_EQ(s[static_cast<std::size_t>(ConnectionStage::http)], 1U);
  EXPECT_EQ(s[static_cast<std::size_t>(ConnectionStage::relay)], 1U);
  EXPECT_EQ(s[static_cast<std::size_t>(ConnectionStage::handshake)], 0U);
  t.remove(a);
  t.remove(b);
  s = t.by_stage();
  for (auto n : s) EXPECT_EQ(n, 0U);
  EXPECT_EQ(t.in_group("x"), 0U);
}

TEST(ClientAddress, IPv6IsGroupedByItsSlash64) {
  using boost::asio::ip::make_address;
  const auto a = client_address(make_address("2001:db8:1:2:aaaa::1"));
  const auto b = client_address(make_address("2001:db8:1:2:bbbb::9"));
  const auto c = client_address(make_address("2001:db8:1:3::1"));
  EXPECT_EQ(a.group, "2001:db8:1:2::/64");
  EXPECT_EQ(a.group, b.group);
  EXPECT_NE(a.group, c.group);
  EXPECT_EQ(a.ip, "2001:db8:1:2:aaaa::1");
  const auto v4 = client_address(make_address("::ffff:198.51.100.7"));
  EXPECT_EQ(v4.ip, "198.51.100.7");
  EXPECT_EQ(v4.group, "198.51.100.7");
}

}  // namespace
}  // namespace ferry::server
