#include "proto/nat_behavior.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

IpPort at(const char* ip, std::uint16_t port) {
  return IpPort{*parse_ip(ip), port};
}

TEST(NatBehavior, NoAnswerIsUdpBlocked) {
  const auto b = classify_nat(NatObservations{});
  EXPECT_TRUE(b.udp_blocked);
  EXPECT_NE(describe_nat(b).find("UDP is blocked"), std::string::npos);
}

TEST(NatBehavior, PublicHost) {
  NatObservations o;
  o.local_port = 5000;
  o.mapped_is_local = true;
  o.primary = o.other_port = o.other_address = at("203.0.113.5", 5000);
  o.server_has_other_address = true;
  o.answered_from_other_port = o.answered_from_other_address = true;
  const auto b = classify_nat(o);
  EXPECT_FALSE(b.behind_nat);
  EXPECT_EQ(b.mapping, NatMapping::none);
  EXPECT_EQ(b.filtering, NatFiltering::endpoint_independent);
  EXPECT_NE(describe_nat(b).find("public address"), std::string::npos);
}

TEST(NatBehavior, AServerOnThisComputerTellsNothingOfThePublicAddress) {
  for (const char* ip : {"127.0.0.1", "::1"}) {
    NatObservations o;
    o.local_port = 5000;
    o.mapped_is_local = true;
    o.primary = at(ip, 5000);
    const auto b = classify_nat(o);
    const auto text = describe_nat(b);
    EXPECT_EQ(text.find("public address"), std::string::npos) << text;
    EXPECT_NE(text.find("cannot be told from here"), std::string::npos) << text;
  }
}

TEST(NatBehavior, ConeFullConeAndSymmetric) {
  NatObservations cone;
  cone.local_port = 40000;
  cone.primary = cone.other_port = cone.other_address = at("203.0.113.9", 40000);
  cone.server_has_other_address = true;
  cone.answered_from_other_port = false;
  cone.answered_from_other_address = false;
  auto b = classify_nat(cone);
  EXPECT_TRUE(b.behind_nat);
  EXPECT_EQ(b.mapping, NatMapping::endpoint_independent);
  EXPECT_EQ(b.filtering, NatFiltering::address_port_dependent);
  EXPECT_TRUE(b.port_preserved);
  EXPECT_NE(describe_nat(b).find("a cone NAT"), std::string::npos);

  NatObservations full = cone;
  full.answered_from_other_port = full.answered_from_other_address = true;
  b = classify_nat(full);
  EXPECT_EQ(b.filtering, NatFiltering::endpoint_independent);
  EXPECT_NE(describe_nat(b).find("full-cone"), std::string::npos);

  NatObservations symmetric = cone;
  symmetric.other_port = at("203.0.113.9", 51234);
  symmetric.other_address = at("203.0.113.9", 60001);
  b = classify_nat(symmetric);
  EXPECT_EQ(b.mapping, NatMapping::dependent);
  EXPECT_NE(describe_nat(b).find("symmetric"), std::string::npos);

  NatObservations address_dependent = symmetric;
  address_dependent.other_port = address_dependent.primary;  // same address: same mapping
  EXPECT_EQ(classify_nat(address_dependent).mapping, NatMapping::address_dependent);
}

TEST(NatBehavior, ServerWithOneAddress) {
  NatObservations o;
  o.local_port = 1;
  o.primary = o.other_port = at("203.0.113.9", 2);
  o.answered_from_other_port = true;
  const auto b = classify_nat(o);
  EXPECT_EQ(b.mapping, NatMapping::endpoint_independent);
  EXPECT_EQ(b.filtering, NatFiltering::endpoint_independent);
  EXPECT_FALSE(b.port_preserved);
}

}  // namespace
}  // namespace ferry::proto
